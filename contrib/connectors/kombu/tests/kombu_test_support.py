"""Helpers shared by the kombu connector tests (a uniquely named module, so that it
never clashes with another distribution's test helpers in one pytest run).

Real brokers come from ``MCO_TEST_AMQP_URL`` / ``MCO_TEST_REDIS_URL``; when one cannot
be reached its tests are skipped with the reason, unless ``MCO_REQUIRE_BROKERS=1``,
which turns that into a failure. Every test uses collectives of its own, and what it
leaves on a real broker (exchanges, binding tables) is deleted afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import EllipsisType
from urllib.parse import urlsplit

import pytest

from mcollective.config import config_from_text
from mcollective.plugins import make_plugin_manager
from mcollective.testing.contracts import Inbox as ContractInbox
from mcollective_connector_kombu.connector import KombuConnector

AMQP_URL = os.environ.get("MCO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("MCO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEFAULT_PORTS = {"amqp": 5672, "redis": 6379}


def require_broker(family: str, url: str) -> None:
    """Skip (or, with MCO_REQUIRE_BROKERS=1, fail) unless the broker's port answers."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[family]
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        reason = f"{family} broker at {host}:{port} unreachable ({exc})"
        if os.environ.get("MCO_REQUIRE_BROKERS") == "1":
            pytest.fail(f"{reason} and MCO_REQUIRE_BROKERS=1")
        pytest.skip(reason)


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Inbox(ContractInbox):
    """The contract suite's recording handler, with the look-ups these tests use."""

    def wait_for(self, predicate: Callable[[list[tuple[bytes, str | None]]], bool],
                 timeout: float = 10.0) -> bool:
        return super().wait_for(predicate, timeout)

    def wait_count(self, n: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda items: len(items) >= n, timeout)

    def bodies(self, identity: str | EllipsisType | None = ...) -> list[bytes]:
        """Bodies received (for ``identity`` only, if given; None means replies)."""
        with self._cond:
            return [b for b, i in self.items if identity is ... or i == identity]

    def has(self, body: bytes, identity: str | EllipsisType | None = ...) -> bool:
        return body in self.bodies(identity)


@dataclass
class Broker:
    family: str
    url: str
    collectives: list[str] = field(default_factory=list)

    def collective(self) -> str:
        name = unique("c")
        self.collectives.append(name)
        return name

    def cleanup(self) -> None:
        """Delete what tests leave on real brokers (our exchanges and binding tables)."""
        names = [f"{c}.{kind}" for c in self.collectives for kind in ("broadcast", "directed")]
        if not names:
            return
        if self.family == "amqp":
            import kombu

            with kombu.Connection(self.url, connect_timeout=5) as conn:
                channel = conn.channel()
                for name in names:
                    channel.exchange_delete(name)
        elif self.family == "redis":
            import redis

            client = redis.Redis.from_url(self.url)
            client.delete(*[f"_kombu.binding.{n}" for n in names],
                          *[f"_kombu.binding_permanent.{n}" for n in names])
            client.close()


class Harness:
    """Creates connected connectors on one broker and closes them all at the end."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.connectors: list[KombuConnector] = []
        self.pm = make_plugin_manager()

    def connector(self, identity: str = "client", extra: str = "") -> KombuConnector:
        config = config_from_text(
            f"identity = {identity}\nplugin.kombu.url = {self.broker.url}\n{extra}")
        connector = self.pm.create_connector(config)
        assert isinstance(connector, KombuConnector)
        connector.connect(timeout=10)
        self.connectors.append(connector)
        return connector

    def node(self, identity: str, collectives: list[str], agents: list[str]
             ) -> tuple[KombuConnector, Inbox]:
        connector = self.connector(identity)
        connector.subscribe_node(identity, collectives, agents)
        inbox = Inbox()
        connector.start(inbox)
        return connector, inbox

    def client(self, identity: str = "client") -> tuple[KombuConnector, Inbox, str]:
        connector = self.connector(identity)
        reply_to = connector.subscribe_replies()
        inbox = Inbox()
        connector.start(inbox)
        return connector, inbox, reply_to

    def close(self) -> None:
        for connector in self.connectors:
            connector.close()
