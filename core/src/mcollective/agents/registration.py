"""The ``registration`` agent: receives nodes' registrations and keeps an inventory file.

Only active where ``plugin.registration.inventory`` is set: every node has this agent
installed, but a registration is broadcast to every node *running* it, so ordinary nodes
must not become receivers. Configuration (``plugin.registration.*``):

``inventory``
    the file to keep current (relative to the config file's directory); ``.json`` for
    JSON, anything else YAML. Read at start-up, so a restarted receiver keeps its nodes.
``expire`` (seconds, default 300)
    a node not heard from for this long is dropped from the file.
``write_interval`` (seconds, default 1)
    the file is rewritten at most this often, so a large fleet registering at once
    costs one write, not one per node.

A node is recorded under the request's ``sender``, which must match the caller
``identity=<sender>`` the daemon registers as: with a security provider that binds
callers to nodes (jwt) a node cannot register in another's name. Registrations are
never answered.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcollective.agent import Agent, AgentReply, AgentRequest
from mcollective.config import IDENTITY_RE, boolean, number, path
from mcollective.errors import InvalidRPCData
from mcollective.inventory_file import read_inventory, write_inventory
from mcollective.log import untrusted

if TYPE_CHECKING:
    from mcollective.config import Config

log = logging.getLogger(__name__)

SCHEMA = {
    "inventory": path,
    "expire": number(1),
    "write_interval": number(0),
    "activate_agent": boolean,
}
DEFAULTS: dict[str, Any] = {"expire": 300.0, "write_interval": 1.0}


def settings(config: Config) -> dict[str, Any]:
    return config.plugin_config("registration", SCHEMA, DEFAULTS)


def node_entry(payload: Any, collective: str) -> dict[str, Any]:
    """The inventory entry for one registration payload (``agentlist`` or ``meta``).

    Anything of the wrong type raises InvalidRPCData: a payload is data from the
    network, and one bad node must not corrupt the file for every other."""
    if not isinstance(payload, dict):
        raise InvalidRPCData("registration payload must be an object")
    agents: Any = payload.get("agentlist", payload.get("agents", []))
    facts = payload.get("facts", {})
    classes = payload.get("classes", [])
    collectives = payload.get("collectives", [collective])
    for name, value in (("agentlist", agents), ("classes", classes),
                        ("collectives", collectives)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRPCData(f"registration '{name}' must be a list of strings")
    if not isinstance(facts, dict):
        raise InvalidRPCData("registration 'facts' must be an object")
    return {"facts": facts, "classes": list(classes), "agents": sorted(agents),
            "collectives": list(collectives)}


class Registration(Agent):
    """Keeps an inventory file of every node that registers."""

    agent_name = "registration"

    @classmethod
    def activate(cls, config: Config) -> bool:
        return bool(settings(config).get("inventory"))

    def startup(self) -> None:
        conf = settings(self.config)
        self.inventory: Path = self.config.resolve_path(conf["inventory"])
        self.expire: float = conf["expire"]
        self.write_interval: float = conf["write_interval"]
        self._lock = threading.Lock()
        self._nodes: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, float] = {}
        self._groups: dict[str, Any] | list[Any] = {}
        self._written: tuple[int, int, int] | None = None
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._load()
        self._thread = threading.Thread(target=self._writer, name="registration-writer",
                                        daemon=True)
        self._thread.start()
        log.info("registration receiver keeping %s (expire after %gs)", self.inventory,
                 self.expire)

    def shutdown(self) -> None:
        self._stop.set()
        self._dirty.set()
        self._thread.join(5)

    # --- the action -----------------------------------------------------------------

    def register(self, request: AgentRequest, reply: AgentReply) -> None:
        try:
            identity, entry = self._entry(request)
        except InvalidRPCData as exc:
            # Registrations are never answered, so the log is the only place to tell.
            log.warning("registration from %s (caller %s) rejected: %s",
                        untrusted(request.sender), untrusted(request.caller), untrusted(exc))
            raise
        with self._lock:
            self._nodes[identity] = entry
            self._seen[identity] = time.time()
            reply["nodes"] = len(self._nodes)
        self._dirty.set()

    @staticmethod
    def _entry(request: AgentRequest) -> tuple[str, dict[str, Any]]:
        identity = request.sender
        if not IDENTITY_RE.match(identity):
            raise InvalidRPCData(f"registration from an invalid identity {identity!r}")
        if request.caller != f"identity={identity}":
            # Daemons register as identity=<themselves>; with jwt the caller is bound to
            # the node's server token, so this stops one node registering as another.
            raise InvalidRPCData(f"registration for {identity} sent by caller "
                                 f"{request.caller}, not identity={identity}")
        payload = request["payload"]
        claimed = payload.get("identity") if isinstance(payload, dict) else None
        if claimed is not None and claimed != identity:
            raise InvalidRPCData(f"registration from {identity} claims to be {claimed!r}")
        return identity, node_entry(payload, request.collective)

    # --- the file -------------------------------------------------------------------

    def _load(self) -> None:
        """Start from the existing file: its nodes count as seen now (so they expire
        unless they register again) and its groups are kept."""
        try:
            doc = read_inventory(self.inventory)
        except (OSError, ValueError) as exc:
            # Never overwrite what we cannot read: it may be someone's hand-made file.
            aside = self.inventory.with_name(f"{self.inventory.name}.unreadable")
            log.warning("registration: %s; moved aside to %s, starting empty", exc, aside)
            try:
                os.replace(self.inventory, aside)
            except OSError as move:
                log.error("registration: cannot move %s aside: %s", self.inventory, move)
            return
        now = time.time()
        for name, entry in doc["nodes"].items():
            if isinstance(name, str) and isinstance(entry, dict):
                self._nodes[name] = {k: entry.get(k) for k in
                                     ("facts", "classes", "agents", "collectives")
                                     if entry.get(k) is not None}
                self._seen[name] = now
        self._groups = doc["groups"]

    def _writer(self) -> None:
        """Write when something changed, at most every ``write_interval`` (one write for
        a burst of registrations); wake up regularly to expire silent nodes."""
        tick = max(0.5, min(self.expire / 4, 30.0))
        while not self._stop.is_set():
            self._dirty.wait(tick)
            if not self._stop.is_set():
                self._stop.wait(self.write_interval)
            if not self._flush():
                self._stop.wait(5.0)  # a broken disk must not become a busy loop
        self._flush()

    def _flush(self) -> bool:
        """Drop expired nodes and rewrite the file if anything changed; ``False`` when
        writing failed (it is retried)."""
        try:
            with self._lock:
                cutoff = time.time() - self.expire
                for name in [n for n, seen in self._seen.items() if seen < cutoff]:
                    log.info("registration: %s not heard from for %gs; dropped", name,
                             self.expire)
                    self._nodes.pop(name, None)
                    self._seen.pop(name, None)
                    self._dirty.set()
                if not self._dirty.is_set():
                    return True
                self._dirty.clear()
                nodes = dict(self._nodes)
            self._refresh_groups()
            write_inventory(self.inventory, nodes, self._groups)
            st = self.inventory.stat()
            self._written = (st.st_ino, st.st_mtime_ns, st.st_size)
            return True
        except Exception:
            log.exception("registration: could not write %s; will retry", self.inventory)
            self._dirty.set()
            return False

    def _refresh_groups(self) -> None:
        """Keep ``groups:`` edited by hand since our last write."""
        try:
            st = self.inventory.stat()
        except OSError:
            return
        if (st.st_ino, st.st_mtime_ns, st.st_size) == self._written:
            return
        try:
            self._groups = read_inventory(self.inventory)["groups"]
        except (OSError, ValueError) as exc:
            log.warning("registration: keeping the previous groups: %s", exc)
