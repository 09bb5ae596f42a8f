"""The connector contract (``mcollective.testing.contracts``) on every kombu transport:
memory, the embedded filesystem broker, RabbitMQ, Redis and SQS (a local moto server
started by the session). Each class only says how to configure its transport, how to
see what the middleware still holds, and how to simulate a crash."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcollective.connector import Connector
from mcollective.testing.contracts import ConnectorContract, ConnectorFactory
from mcollective.testing.hostile import HostileContract
from mcollective_connector_kombu.connector import KombuConnector


class KombuFactory(ConnectorFactory):
    family = ""

    def __init__(self, root: Path, url: str, **extra: Any) -> None:
        super().__init__(root)
        self.url = url
        self.extra = extra

    def settings(self, identity: str) -> dict[str, Any]:
        return {"connector": "kombu", "plugin.kombu.url": self.url,
                **{f"plugin.kombu.{k}": v for k, v in self.extra.items()}}

    def kombu_connectors(self) -> list[KombuConnector]:
        return [c for c in self.created if isinstance(c, KombuConnector)]

    def crash(self, connector: Connector) -> bool:
        assert isinstance(connector, KombuConnector)
        connector.abandon()
        return True


def _as_object(payload: bytes) -> Any:
    """What a raw memory:// queue holds: the decoded JSON if it is JSON, else bytes."""
    import json

    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return payload


class MemoryFactory(KombuFactory):
    def inject(self, node: Connector, collective: str, identity: str, agent: str,
               payload: bytes) -> int:
        from mcollective_connector_kombu import topology
        from mcollective_connector_kombu.transports import MemoryChannel

        MemoryChannel.queues[topology.node_queue(collective, identity)].put(
            _as_object(payload))
        return 1

    def leftovers(self, collective: str) -> set[str]:
        from mcollective_connector_kombu.transports import MemoryChannel

        return {q for q in MemoryChannel.queues if q.startswith(f"{collective}.")}

    def crash(self, connector: Connector) -> bool:
        return False  # one process: there is nobody to survive the crash


class FilesystemFactory(KombuFactory):
    def __init__(self, root: Path) -> None:
        self.broker_root = root / "broker"
        super().__init__(root, f"filesystem://{self.broker_root}")

    def leftovers(self, collective: str) -> set[str]:
        from mcollective_connector_kombu.fsbroker import decode_name

        folder = self.broker_root / "queues"
        names = {decode_name(e) for e in os.listdir(folder)} if folder.exists() else set()
        return {n for n in names if n.startswith(f"{collective}.")}

    def sweep(self) -> None:
        from mcollective_connector_kombu.fsbroker import FsBroker

        FsBroker(self.broker_root).sweep()

    def inject(self, node: Connector, collective: str, identity: str, agent: str,
               payload: bytes) -> int:
        from mcollective_connector_kombu import topology
        from mcollective_connector_kombu.fsbroker import FsBroker

        FsBroker(self.broker_root).put(topology.node_queue(collective, identity), payload)
        return 1


class AmqpFactory(KombuFactory):
    def leftovers(self, collective: str) -> set[str]:
        import amqp
        import kombu

        names: set[str] = set()
        for connector in self.kombu_connectors():
            info = connector.describe()
            names.update(f"{c}.node.{ident}" for ident, sub in info["nodes"].items()
                         for c in sub["collectives"])
            if info["reply_queue"]:
                names.add(info["reply_queue"])
        left = set()
        with kombu.Connection(self.url, connect_timeout=5) as conn:
            for name in sorted(n for n in names if n.startswith(f"{collective}.")):
                try:
                    conn.channel().queue_declare(queue=name, passive=True)
                    left.add(name)
                except amqp.exceptions.ResourceLocked:
                    left.add(name)
                except amqp.exceptions.NotFound:
                    pass
        return left

    def close(self) -> None:
        import kombu

        with kombu.Connection(self.url, connect_timeout=5) as conn:
            channel = conn.channel()
            for collective in self.collectives():
                for kind in ("broadcast", "directed"):
                    channel.exchange_delete(f"{collective}.{kind}")

    def inject(self, node: Connector, collective: str, identity: str, agent: str,
               payload: bytes) -> int:
        """Broadcast and direct, as raw AMQP bodies (AMQP has no envelope: each is
        handed to the node as a body, and the daemon judges it)."""
        import kombu

        from mcollective_connector_kombu import topology

        with kombu.Connection(self.url, connect_timeout=5) as conn:
            channel = conn.default_channel
            for exchange, key in (
                    (topology.broadcast_exchange(collective).name, topology.agent_key(agent)),
                    (topology.directed_exchange(collective).name, identity)):
                channel.basic_publish(channel.prepare_message(payload), exchange=exchange,
                                      routing_key=key)
        return 2

    def collectives(self) -> set[str]:
        return {c for connector in self.kombu_connectors()
                for sub in connector.describe()["nodes"].values()
                for c in sub["collectives"]}


class RedisFactory(KombuFactory):
    """Short liveness, so the janitor's removal of a crashed process is quick."""

    sweep_timeout = 20.0

    def __init__(self, root: Path, url: str) -> None:
        super().__init__(root, url, liveness_timeout=3, janitor_interval=1)

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)

    def leftovers(self, collective: str) -> set[str]:
        from mcollective_connector_kombu.transports import OWNERS_KEY

        client = self.client()
        try:
            keys = {k.decode() for k in client.keys(f"{collective}.*")}
            owned = {k.decode() for k in client.hkeys(OWNERS_KEY)}
            return keys | {k for k in owned if k.startswith(f"{collective}.")}
        finally:
            client.close()

    def inject(self, node: Connector, collective: str, identity: str, agent: str,
               payload: bytes) -> int:
        """On the agent's PUB/SUB channel (broadcast) and the node's list (direct)."""
        from mcollective_connector_kombu import topology

        assert isinstance(node, KombuConnector)
        channel = node._channel  # the node's own: it knows the PUB/SUB key prefix
        topics = channel._get_publish_topics(topology.fanout_exchange(collective, agent)
                                             .name, "")
        client = self.client()
        try:
            for topic in topics:
                client.publish(topic, payload)
            client.lpush(topology.node_queue(collective, identity), payload)
        finally:
            client.close()
        return len(topics) + 1

    def sweep(self) -> None:
        from mcollective_connector_kombu.transports import sweep_redis

        client = self.client()
        try:
            sweep_redis(client)
        finally:
            client.close()


class SqsFactory(KombuFactory):
    """moto: no order between queues and topics, so fences need a grace period; reply
    queues are long-lived per client host by design and are not leftovers."""

    grace = 1.0

    def __init__(self, root: Path, url: str) -> None:
        super().__init__(root, url, sqs_secure="false", sqs_wait_time=0,
                         polling_interval=0.02)

    def leftovers(self, collective: str) -> set[str]:
        import boto3

        port = self.url.rsplit(":", 1)[1]
        sqs = boto3.client("sqs", region_name="us-east-1", use_ssl=False,
                           endpoint_url=f"http://127.0.0.1:{port}",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        urls = sqs.list_queues(QueueNamePrefix=collective).get("QueueUrls", [])
        names = {u.rsplit("/", 1)[1] for u in urls}
        return {n for n in names if not n.startswith(f"{collective}-reply-")}

    def crash(self, connector: Connector) -> bool:
        return False  # SQS never removes a queue by itself; retention bounds it

    def inject(self, node: Connector, collective: str, identity: str, agent: str,
               payload: bytes) -> int:
        """Into the node's queue (broadcasts reach it through SNS, which adds
        nothing to check). SQS bodies are text without control characters: the bytes
        are mapped to what SQS accepts."""
        import re

        from mcollective_connector_kombu import topology

        assert isinstance(node, KombuConnector)
        channel = node._channel
        queue = topology.node_queue(collective, identity)
        text = re.sub(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd]", "?",
                      payload.decode("utf-8", "replace")) or "?"
        url = channel._new_queue(queue)
        channel.sqs(queue=channel.canonical_queue_name(queue)).send_message(
            QueueUrl=url, MessageBody=text)
        return 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
class TestMemoryContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> Iterator[ConnectorFactory]:
        factory = MemoryFactory(tmp_path, "memory://")
        yield factory
        factory.close()


class TestFilesystemContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> Iterator[ConnectorFactory]:
        factory = FilesystemFactory(tmp_path)
        yield factory
        factory.close()


@pytest.mark.broker("amqp")
class TestRabbitMQContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path, amqp_url: str
                          ) -> Iterator[ConnectorFactory]:
        factory = AmqpFactory(tmp_path, amqp_url)
        yield factory
        factory.close()


@pytest.mark.broker("redis")
class TestRedisContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path, redis_url: str
                          ) -> Iterator[ConnectorFactory]:
        factory = RedisFactory(tmp_path, redis_url)
        yield factory
        factory.close()


@pytest.mark.broker("sqs")
class TestSQSContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path, sqs_url: str) -> Iterator[ConnectorFactory]:
        factory = SqsFactory(tmp_path, sqs_url)
        yield factory
        factory.close()


# --- hostile input (mcollective.testing.hostile), real daemons on each transport -----------


class TestFilesystemHostile(HostileContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> Iterator[ConnectorFactory]:
        factory = FilesystemFactory(tmp_path)
        yield factory
        factory.close()


@pytest.mark.broker("amqp")
class TestRabbitMQHostile(HostileContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path, amqp_url: str
                          ) -> Iterator[ConnectorFactory]:
        factory = AmqpFactory(tmp_path, amqp_url)
        yield factory
        factory.close()


@pytest.mark.broker("redis")
class TestRedisHostile(HostileContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path, redis_url: str
                          ) -> Iterator[ConnectorFactory]:
        factory = RedisFactory(tmp_path, redis_url)
        yield factory
        factory.close()


@pytest.mark.slow  # minutes: moto answers slowly
@pytest.mark.broker("sqs")
class TestSQSHostile(HostileContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path, sqs_url: str) -> Iterator[ConnectorFactory]:
        factory = SqsFactory(tmp_path, sqs_url)
        yield factory
        factory.close()
