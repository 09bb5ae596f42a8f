"""The ``rpcutil`` agent: what a node knows about itself (MCollective §6, Choria's rpcutil).

Every action of the original is here with the same inputs and outputs, so existing
scripts keep working.
"""

from __future__ import annotations

import time
from typing import Any

from mcollective import __version__
from mcollective.agent import Agent, AgentReply, AgentRequest
from mcollective.config import mask_credentials
from mcollective.errors import RPCAborted
from mcollective.facts_lookup import lookup_fact


class Rpcutil(Agent):
    """General helpful actions that expose stats and internals to SimpleRPC clients."""

    agent_name = "rpcutil"
    inline_actions = frozenset({"ping"})

    def inventory(self, request: AgentRequest, reply: AgentReply) -> None:
        node = self.context.node()
        reply["agents"] = sorted(node.agents)
        reply["facts"] = dict(node.facts)
        reply["classes"] = list(node.classes)
        reply["version"] = __version__
        reply["main_collective"] = self.config.main_collective
        reply["collectives"] = list(self.config.collectives)
        reply["data_plugins"] = list(self.context.data_plugins())

    def get_fact(self, request: AgentRequest, reply: AgentReply) -> None:
        fact = request["fact"]
        reply["fact"] = fact
        reply["value"] = lookup_fact(self.context.node().facts, fact)

    def get_facts(self, request: AgentRequest, reply: AgentReply) -> None:
        facts = self.context.node().facts
        names = [n.strip() for n in request["facts"].split(",") if n.strip()]
        reply["values"] = {name: lookup_fact(facts, name) for name in names}

    def daemon_stats(self, request: AgentRequest, reply: AgentReply) -> None:
        reply.data.update(self.context.stats())

    def agent_inventory(self, request: AgentRequest, reply: AgentReply) -> None:
        agents = []
        for name, agent in sorted(self.context.agents().items()):
            meta = agent.ddl.metadata
            agents.append({
                "agent": name, "name": meta.name, "license": meta.license,
                "timeout": meta.timeout, "description": meta.description, "url": meta.url,
                "version": meta.version, "author": meta.author,
            })
        reply["agents"] = agents

    def get_config_item(self, request: AgentRequest, reply: AgentReply) -> None:
        item = request["item"]
        reply["item"] = item
        # Secret by name or marked secret by its plugin: never disclosed. Any other
        # value is shown with the credentials of every URL in it masked, as daemon_stats
        # shows the connector's URL.
        if self.config.is_secret(item):
            raise RPCAborted(f"Config property {item} is secret and is not disclosed")
        if item.startswith("plugin."):
            setting = self.config.source(item)
            if setting is None:
                raise RPCAborted(f"Unknown config property {item}")
            reply["value"] = mask_credentials(setting.value)
            return
        values = self.config.items()
        if item == "statedir":
            reply["value"] = str(self.config.statedir)
        elif item in values:
            reply["value"] = mask_credentials(values[item])
        else:
            raise RPCAborted(f"Unknown config property {item}")

    def ping(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["pong"] = int(time.time())

    def collective_info(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["main_collective"] = self.config.main_collective
        reply["collectives"] = list(self.config.collectives)

    def get_data(self, request: AgentRequest, reply: AgentReply) -> None:
        source = request["source"]
        if source not in self.context.data_plugins():
            raise RPCAborted(f"Unknown data plugin '{source}'")
        result: Any = self.context.data(source, request.get("query"))
        if result is None:
            raise RPCAborted(f"Data plugin '{source}' failed for query "
                             f"{request.get('query')!r}")
        reply.data.update(result)
