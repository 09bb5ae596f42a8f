"""``agent('package')``: the DDL metadata of an agent loaded on the node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcollective.data import DataPlugin, DataPluginError


class AgentData(DataPlugin):
    """``license``, ``timeout``, ``description``, ``url``, ``version``, ``author`` of a
    loaded agent. An agent that is not loaded is an error, as in MCollective, so
    ``-S "agent('puppet').version=/^2/"`` is false on nodes without it (use ``-A`` to
    test for presence)."""

    name = "agent"

    def run(self, argument: Any) -> Mapping[str, Any]:
        if self.context is None:
            raise DataPluginError("the agent data plugin only answers on a node")
        agent = self.context.agents().get(str(argument))
        if agent is None:
            raise DataPluginError(f"no agent '{argument}' is loaded on this node")
        meta = agent.ddl.metadata
        return {"license": meta.license, "timeout": meta.timeout,
                "description": meta.description, "url": meta.url,
                "version": meta.version, "author": meta.author}
