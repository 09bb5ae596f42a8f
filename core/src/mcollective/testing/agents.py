"""Running one agent action the way the daemon does, for agent authors' unit tests.

``run_action`` validates the inputs against the DDL (filling defaults, resolving
validator plugins through their entry points), builds the request and a reply pre-filled
with the output defaults, and calls the agent — the same steps as the daemon's worker,
minus the network. ``build_agent`` constructs an agent with a real configuration.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, TypeVar

from mcollective.agent import Agent, AgentContext, AgentReply, AgentRequest
from mcollective.config import config_from_text
from mcollective.filters import Node
from mcollective.plugins import make_plugin_manager
from mcollective.validators import Resolver, plugin_resolver

A = TypeVar("A", bound=Agent)


@functools.cache
def installed_validators() -> Resolver:
    """Validator plugins found by entry point, as the daemon resolves them."""
    return plugin_resolver(make_plugin_manager())


def build_agent(cls: type[A], statedir: Path, settings: str = "", *,
                identity: str = "n1", node: Node | None = None) -> A:
    """An agent built with a real configuration (``settings`` are config lines)."""
    config = config_from_text(f"identity = {identity}\nstatedir = {statedir}\n{settings}",
                              role="server")
    view = node or Node(identity=identity)
    return cls(AgentContext(config=config, identity=identity, node=lambda: view))


def run_action(agent: Agent, action: str, *, action_timeout: float | None = None,
               caller: str = "user=test", **data: Any) -> AgentReply:
    """Run ``action`` like the daemon: DDL validation and defaults, then the method.

    Invalid input raises :class:`mcollective.errors.DDLValidationError`, as the daemon
    would answer status 3 or 4 without calling the agent.
    """
    ddl = agent.ddl.action(action)
    validated = ddl.validate(data, validators=installed_validators())
    request = AgentRequest(
        agent=agent.agent_name, action=action, data=validated, caller=caller,
        sender="test-client", id="0" * 32, time=time.time(), collective="mcollective",
        timeout=float(action_timeout or agent.ddl.timeout),
    )
    reply = AgentReply(ddl.output_defaults())
    agent.handle(request, reply)
    return reply


_INPUT_KEYS = ("type", "optional", "default", "validation", "maxlength", "list")


def shipped_ddl(cls: type[Agent]) -> dict[str, Any]:
    """The JSON DDL file shipped beside an agent's module, as written."""
    import json
    from importlib import resources

    package = cls.__module__.rpartition(".")[0] or cls.__module__
    name = cls.ddl_file or f"{cls.agent_name}.json"
    return json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


def choria_differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Where our DDL would break scripts written for Choria's: actions, every input's
    type/optional/default/validation/maxlength/list, outputs and their defaults, display,
    aggregates, name and timeout. Descriptions and labels may differ."""
    problems: list[str] = []
    mine = {a["action"]: a for a in ours["actions"]}
    other = {a["action"]: a for a in theirs["actions"]}
    if sorted(mine) != sorted(other):
        problems.append(f"actions {sorted(mine)} != {sorted(other)}")
    for name, act in other.items():
        if name not in mine:
            continue
        if set(mine[name]["input"]) != set(act["input"]):
            problems.append(f"{name}: inputs {sorted(mine[name]['input'])} != "
                            f"{sorted(act['input'])}")
        for key, item in act["input"].items():
            for field in _INPUT_KEYS:
                got = mine[name]["input"].get(key, {}).get(field)
                if key in mine[name]["input"] and got != item.get(field):
                    problems.append(f"{name}.{key}.{field}: {got!r} != {item.get(field)!r}")
        if set(mine[name]["output"]) != set(act["output"]):
            problems.append(f"{name}: outputs {sorted(mine[name]['output'])} != "
                            f"{sorted(act['output'])}")
        for key, item in act["output"].items():
            got = mine[name]["output"].get(key, {}).get("default")
            if key in mine[name]["output"] and got != item.get("default"):
                problems.append(f"{name} output {key} default: {got!r} != "
                                f"{item.get('default')!r}")
        for field, default in (("display", "failed"), ("aggregate", None)):
            if mine[name].get(field, default) != act.get(field, default):
                problems.append(f"{name}.{field}: {mine[name].get(field, default)!r} != "
                                f"{act.get(field, default)!r}")
    for field in ("name", "timeout"):
        if ours["metadata"][field] != theirs["metadata"][field]:
            problems.append(f"metadata.{field}: {ours['metadata'][field]!r} != "
                            f"{theirs['metadata'][field]!r}")
    return problems
