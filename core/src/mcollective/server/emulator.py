"""``mcollectived --emulate N``: one process serving N node identities.

To measure a collective of thousands of nodes on one machine (as Choria's emulator
does), one daemon process subscribes N identities through **one** connector (its two
broker connections are shared), each with its own facts and classes, and runs the real
message pipeline for each: security, TTL, filters, DDL validation, agents, signed
replies. Only the agents' notion of "this node" is virtual.

Identities are ``<identity>-<n>`` (zero-padded, n from ``--emulate-offset``), so
several emulator processes with different offsets or identities make one larger
collective. Facts are the node's configured facts overlaid with varied, deterministic
emulated ones (``country``, ``role``, ``datacenter``, ``cpus``, ``os``...), so that
``mco find -F``, ``-C`` and compound filters select realistic subsets.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from mcollective import __version__
from mcollective.server.daemon import Daemon

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.filters import Node
    from mcollective.plugins import PluginManager

log = logging.getLogger(__name__)

COUNTRIES = ("uk", "de", "fr", "us", "nl", "jp")
ROLES = ("web", "db", "cache", "queue")
FAMILIES = (("Debian", "12"), ("RedHat", "9"), ("Debian", "11"))


def emulated_facts(index: int) -> dict[str, Any]:
    """Deterministic, varied facts for emulated node ``index`` (about 300 bytes)."""
    family, major = FAMILIES[index % len(FAMILIES)]
    return {
        "emulated": True,
        "emulated_index": index,
        "country": COUNTRIES[index % len(COUNTRIES)],
        "role": ROLES[index % len(ROLES)],
        "datacenter": f"dc{index % 10}",
        "rack": f"r{index % 40}",
        "cpus": 2 ** (index % 5),
        "memory_mb": 1024 * (1 + index % 16),
        "os": {"family": family, "release": {"major": major}},
    }


def emulated_identities(base: str, count: int, offset: int = 0) -> list[str]:
    width = max(4, len(str(offset + count - 1)))
    return [f"{base}-{n:0{width}d}" for n in range(offset, offset + count)]


class EmulatedDaemon(Daemon):
    """A :class:`Daemon` answering for many identities over one connector."""

    #: One broadcast is one filter match per identity: thousands would overflow the
    #: data-filter queue, so an emulator matches them in line (each within
    #: ``max_filter_seconds``).
    defer_data_filters = False

    def __init__(self, config: Config, count: int, *, offset: int = 0,
                 plugins: PluginManager | None = None) -> None:
        if count < 1:
            raise ValueError("--emulate needs at least one node")
        super().__init__(config, plugins=plugins)
        self.base_identity = config.identity
        self.identities = emulated_identities(config.identity, count, offset)
        self._index = {ident: offset + n for n, ident in enumerate(self.identities)}
        # The first emulated identity stands for the process where one is needed
        # (logs, daemon_stats, the connector's own reply queue name).
        self.identity = self.identities[0]
        self._local = threading.local()
        self._base_cache: tuple[float, dict[str, Any], list[str]] | None = None

    # --- what each node is ------------------------------------------------------------

    def _base(self) -> tuple[dict[str, Any], list[str]]:
        """The configured facts and classes, re-read at most once a second: every
        emulated identity evaluates them for every broadcast."""
        now = time.monotonic()
        cached = self._base_cache
        if cached is None or now - cached[0] > 1.0:
            cached = self._base_cache = (now, dict(self.facts.get()),
                                         list(self.classes.get()))
        return cached[1], cached[2]

    def facts_of(self, identity: str) -> dict[str, Any]:
        index = self._index.get(identity)
        facts = dict(self._base()[0])
        if index is not None:
            facts.update(emulated_facts(index))
        return facts

    def classes_of(self, identity: str) -> list[str]:
        index = self._index.get(identity)
        classes = list(self._base()[1])
        if index is not None:
            classes += [ROLES[index % len(ROLES)], "base", "emulated"]
        return classes

    def node(self, identity: str | None = None) -> Node:
        """The node ``identity`` (default: the one whose request this thread runs)."""
        from mcollective.filters import Node

        identity = identity or getattr(self._local, "identity", None) or self.identity
        return Node(identity=identity, facts=self.facts_of(identity),
                    classes=self.classes_of(identity), agents=list(self.agents),
                    collectives=list(self.config.collectives), data=self.query_data)

    def _execute(self, entry: Any, identity: str, timeout: float) -> Any:
        self._local.identity = identity
        try:
            return super()._execute(entry, identity, timeout)
        finally:
            self._local.identity = None

    def daemon_stats(self) -> dict[str, Any]:
        out = super().daemon_stats()
        out["emulated"] = {"nodes": len(self.identities), "first": self.identities[0],
                           "last": self.identities[-1]}
        return out

    # --- lifecycle --------------------------------------------------------------------

    def _serve(self) -> None:
        """As :meth:`Daemon._serve`, subscribing every emulated identity (before
        consuming, so each subscription is applied directly, not handed over)."""
        assert self.connector is not None
        config = self.config
        agents = list(self.agents)
        for identity in self.identities:
            self.connector.subscribe_node(identity, config.collectives, agents)
        self._accepting = True
        self.connector.start(self.handle_message)
        self._spawn(self._watchdog, "watchdog")
        log.info("mcollectived %s ready: emulating %d nodes %s..%s collectives=%s "
                 "agents=%s", __version__, len(self.identities), self.identities[0],
                 self.identities[-1], ",".join(config.collectives), ",".join(sorted(agents)))

    def reload(self, new_config: Config) -> None:
        super().reload(new_config)
        assert self.connector is not None
        if not self.ready.is_set():
            return
        for identity in self.identities[1:]:
            self.connector.subscribe_node(identity, self.config.collectives,
                                          list(self.agents))

    def stop(self, timeout: float | None = None) -> None:
        self._accepting = False
        super().stop(timeout)

