"""The agents this console can call: their DDLs as the installed agent plugins provide
them, and what is wrong with those that cannot be loaded.

An agent whose DDL is missing or invalid is listed with the loader's one-line error
(file and field) instead of taking the console down; the other agents work as before.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcollective.errors import MCollectiveError

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.ddl import ActionDDL, AgentDDL
    from mcollective.plugins import PluginManager

log = logging.getLogger(__name__)

#: How long the list of agents is kept before the plugins are asked again.
REFRESH = 60.0


class NotFound(MCollectiveError):
    """No such agent or action here."""


class Unusable(MCollectiveError):
    """The agent's DDL cannot be loaded; the message says why."""


@dataclass(frozen=True)
class AgentEntry:
    name: str
    ddl: AgentDDL | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.ddl is None:
            return {"agent": self.name, "error": self.error}
        meta = self.ddl.metadata
        return {
            "agent": self.name, "description": meta.description, "version": meta.version,
            "author": meta.author, "license": meta.license, "url": meta.url,
            "timeout": meta.timeout, "error": None,
            "actions": [{"action": a.name, "description": a.description}
                        for a in self.ddl.actions.values()],
        }


class Catalogue:
    def __init__(self, plugins: PluginManager, config: Config) -> None:
        self.plugins = plugins
        self.config = config
        self._lock = threading.Lock()
        self._entries: dict[str, AgentEntry] | None = None
        self._loaded = 0.0

    def agents(self) -> dict[str, AgentEntry]:
        with self._lock:
            if self._entries is None or time.monotonic() - self._loaded > REFRESH:
                self._entries = self._load()
                self._loaded = time.monotonic()
            return dict(self._entries)

    def _load(self) -> dict[str, AgentEntry]:
        out: dict[str, AgentEntry] = {}
        try:
            classes = self.plugins.agent_classes(self.config)
        except MCollectiveError as exc:
            log.error("cannot list the installed agents: %s", exc)
            return out
        for name, cls in sorted(classes.items()):
            try:
                out[name] = AgentEntry(name, cls.load_ddl())
            except MCollectiveError as exc:
                out[name] = AgentEntry(name, None, str(exc))
            except Exception as exc:  # a plugin bug must not take the console down
                log.exception("agent %s: loading its DDL failed", name)
                out[name] = AgentEntry(name, None, f"{type(exc).__name__}: {exc}")
        return out

    def ddl(self, agent: str) -> AgentDDL:
        entry = self.agents().get(agent)
        if entry is None:
            raise NotFound(f"no agent '{agent}' is installed on this console (its DDL is "
                           "needed to call it)")
        if entry.ddl is None:
            raise Unusable(f"agent '{agent}' cannot be used: {entry.error}")
        return entry.ddl

    def action(self, agent: str, action: str) -> ActionDDL:
        ddl = self.ddl(agent)
        found = ddl.actions.get(action)
        if found is None:
            raise NotFound(f"agent '{agent}' has no action '{action}' (it has "
                           f"{', '.join(ddl.actions) or 'none'})")
        return found


def form_fields(action: ActionDDL) -> list[dict[str, Any]]:
    """The inputs of ``action`` as form fields: what widget, what the DDL says."""
    fields = []
    for item in action.inputs.values():
        widget = {"boolean": "boolean", "list": "select", "hash": "json", "array": "json",
                  "integer": "number", "float": "number", "number": "number"}.get(
            item.type, "text")
        default = item.default
        if widget == "json" and default is not None:
            import json

            default = json.dumps(default)
        elif widget == "boolean" and default is not None:
            default = "true" if default else "false"
        fields.append({
            "name": item.name, "prompt": item.prompt, "description": item.description,
            "type": item.type, "widget": widget, "optional": item.optional,
            "default": default, "choices": list(item.list or []),
            "maxlength": item.maxlength or None,
            "validation": item.validation if item.type == "string" else None,
            "step": "1" if item.type == "integer" else "any",
        })
    return fields
