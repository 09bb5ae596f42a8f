"""The ``loopback`` connector: daemons and clients in one process, no broker at all.

For tests of agents and plugins (as oslo.messaging's ``fake`` driver): everything that
shares a process and a ``plugin.loopback.name`` (default ``default``) forms one
collective. It keeps the real topology's rules — broadcasts reach the nodes hosting the
agent in that collective, direct messages only their targets, replies only the client
that asked — and delivers on a thread per connector, as a real connector does.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcollective.config import Config
from mcollective.connector import Connector, MessageHandler
from mcollective.hookspecs import hookimpl

log = logging.getLogger(__name__)


@dataclass
class _Subscription:
    connector: LoopbackConnector
    collectives: frozenset[str]
    agents: frozenset[str]


@dataclass
class LoopbackBroker:
    """One in-process 'broker': subscriptions by node identity, reply inboxes by name."""

    name: str
    nodes: dict[str, _Subscription] = field(default_factory=dict)
    inboxes: dict[str, LoopbackConnector] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_BROKERS: dict[str, LoopbackBroker] = {}
_BROKERS_LOCK = threading.Lock()
_SEQ = itertools.count()


def broker(name: str = "default") -> LoopbackBroker:
    with _BROKERS_LOCK:
        return _BROKERS.setdefault(name, LoopbackBroker(name))


class LoopbackConnector(Connector):
    def __init__(self, broker_name: str) -> None:
        super().__init__()
        self.broker = broker(broker_name)
        self.stats = {"published": 0, "received": 0}
        self._queue: queue.Queue[tuple[bytes, str | None] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._identities: set[str] = set()
        self._inbox: str | None = None
        self._closed = False

    def connect(self, *, timeout: float | None = None) -> None:
        self._closed = False

    def subscribe_node(self, identity: str, collectives: Iterable[str],
                       agents: Iterable[str]) -> None:
        with self.broker.lock:
            self.broker.nodes[identity] = _Subscription(
                self, frozenset(collectives), frozenset(agents))
        self._identities.add(identity)

    def unsubscribe_node(self, identity: str) -> None:
        with self.broker.lock:
            sub = self.broker.nodes.get(identity)
            if sub is not None and sub.connector is self:
                del self.broker.nodes[identity]
        self._identities.discard(identity)

    def subscribe_replies(self) -> str:
        if self._inbox is None:
            self._inbox = f"loopback.reply.{next(_SEQ)}"
            with self.broker.lock:
                self.broker.inboxes[self._inbox] = self
        return self._inbox

    def start(self, on_message: MessageHandler) -> None:
        def consume() -> None:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                self.stats["received"] += 1
                try:
                    on_message(*item)
                except Exception:
                    log.exception("message handler failed")

        self._thread = threading.Thread(target=consume, name="loopback-consumer",
                                        daemon=True)
        self._thread.start()

    def _deliver(self, body: bytes, identity: str | None) -> None:
        if not self._closed:
            self._queue.put((body, identity))

    def publish_request(self, body: bytes, *, collective: str, agent: str, ttl: int,
                        targets: Sequence[str] | None = None) -> None:
        self.stats["published"] += 1
        with self.broker.lock:
            if targets is None:
                receivers = [(ident, sub) for ident, sub in self.broker.nodes.items()
                             if collective in sub.collectives and agent in sub.agents]
            else:
                receivers = [(ident, self.broker.nodes[ident]) for ident in targets
                             if ident in self.broker.nodes
                             and collective in self.broker.nodes[ident].collectives]
        for ident, sub in receivers:
            sub.connector._deliver(body, ident)

    def publish_reply(self, body: bytes, reply_to: str, *, ttl: int) -> None:
        self.stats["published"] += 1
        with self.broker.lock:
            target = self.broker.inboxes.get(reply_to)
        if target is not None:
            target._deliver(body, None)

    def close(self) -> None:
        self._closed = True
        with self.broker.lock:
            for ident in list(self._identities):
                sub = self.broker.nodes.get(ident)
                if sub is not None and sub.connector is self:
                    del self.broker.nodes[ident]
            if self._inbox is not None:
                self.broker.inboxes.pop(self._inbox, None)
        self._identities.clear()
        self._queue.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def describe(self) -> dict[str, Any]:
        return {"url": f"loopback://{self.broker.name}", "stats": dict(self.stats)}


class LoopbackPlugin:
    """Entry point ``loopback`` in ``mcollective.connectors``."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "Daemons and clients in one process, no broker at all (tests and demos)"

    @hookimpl
    @staticmethod
    def mco_connector_create(name: str, config: Config) -> Connector:
        settings = config.plugin_config(name, {"name": str}, {"name": "default"})
        return LoopbackConnector(settings["name"])
