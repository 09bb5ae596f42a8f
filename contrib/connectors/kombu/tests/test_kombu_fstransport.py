"""The filesystem broker as a kombu transport, and the connector on it across real
processes (a node daemon killed with SIGKILL included)."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import kombu
import kombu_fs_workers as workers
import pytest
from kombu import Consumer, Exchange, Producer, Queue
from kombu_test_support import Inbox

from mcollective.config import config_from_text
from mcollective_connector_kombu.connector import KombuConnector
from mcollective_connector_kombu.fsbroker import FsBroker
from mcollective_connector_kombu.fstransport import Transport
from mcollective_connector_kombu.options import load_options

SPAWN = multiprocessing.get_context("spawn")


def connection(root: Path, **options: Any) -> kombu.Connection:
    conn = kombu.Connection(transport=Transport,
                            transport_options={"root": str(root), **options})
    conn.connect()
    return conn


def test_plain_kombu_usage(tmp_path: Path) -> None:
    """Producer/Consumer with a serializer and acks, basic_get, size and purge."""
    exchange = Exchange("ex", type="topic", durable=False)
    queue = Queue("work", exchange=exchange, routing_key="job.#", durable=False)
    with connection(tmp_path) as conn:
        channel = conn.channel()
        producer = Producer(channel, exchange=exchange)
        producer.publish({"n": 1}, routing_key="job.a", declare=[queue], serializer="json")
        producer.publish({"n": 2}, routing_key="job.b.c", serializer="json")
        producer.publish({"n": 3}, routing_key="other", serializer="json")
        assert queue(channel).queue_declare(passive=True).message_count == 2
        got: list[Any] = []

        def on_message(body: Any, message: Any) -> None:
            got.append(body)
            message.ack()

        with Consumer(channel, [queue], callbacks=[on_message], accept=["json"]):
            while len(got) < 2:
                conn.drain_events(timeout=5)
        assert got == [{"n": 1}, {"n": 2}]
        producer.publish({"n": 4}, routing_key="job.x", serializer="json")
        message = queue(channel).get(no_ack=True)
        assert message is not None and message.decode() == {"n": 4}
        producer.publish({"n": 5}, routing_key="job.x", serializer="json")
        assert queue(channel).purge() == 1


def test_a_publisher_routes_by_the_type_recorded_by_the_declarer(tmp_path: Path) -> None:
    """kombu's virtual transports fall back to 'direct' for an exchange the publishing
    process did not declare; ours reads the type the consumer recorded."""
    with connection(tmp_path) as consumer_conn, connection(tmp_path) as publisher_conn:
        channel = consumer_conn.channel()
        channel.exchange_declare(exchange="c.broadcast", type="topic")
        channel.queue_declare(queue="node", auto_delete=True)
        channel.queue_bind(queue="node", exchange="c.broadcast", routing_key="agent.*")
        Producer(publisher_conn.channel()).publish(
            b"x", exchange="c.broadcast", routing_key="agent.rpcutil",
            content_type="application/octet-stream", content_encoding="binary")
        assert channel.queue_declare(queue="node", passive=True).message_count == 1


def test_the_doorbell_wakes_the_consumer_without_polling(tmp_path: Path) -> None:
    """With a polling interval of a minute, a message published on another connection
    still arrives at once: the publisher rang the consumer's doorbell."""
    with connection(tmp_path, polling_interval=60) as consumer_conn, \
            connection(tmp_path) as publisher_conn:
        channel = consumer_conn.channel()
        channel.queue_declare(queue="q", auto_delete=True)
        inbox = Inbox()
        consumer = Consumer(channel, [Queue("q", no_declare=True)], no_ack=True,
                            on_message=lambda m: inbox(m.body, None))
        consumer.consume()
        with pytest.raises(TimeoutError):  # first poll done; nothing there
            consumer_conn.drain_events(timeout=0.05)
        producer = Producer(publisher_conn.channel())
        producer.publish(b"ding", routing_key="q", content_type="application/octet-stream",
                         content_encoding="binary")
        consumer_conn.drain_events(timeout=30)
        assert inbox.bodies() == [b"ding"]


def test_closing_deletes_auto_delete_queues_only(tmp_path: Path) -> None:
    conn = connection(tmp_path)
    channel = conn.channel()
    channel.queue_declare(queue="temporary", auto_delete=True)
    channel.queue_declare(queue="mine", exclusive=True)
    channel.queue_declare(queue="durable", durable=True)
    conn.release()
    broker = FsBroker(tmp_path)
    assert not broker.has_queue("temporary") and not broker.has_queue("mine")
    assert broker.has_queue("durable")


def test_connector_across_processes_and_cleanup_after_sigkill(tmp_path: Path) -> None:
    root = str(tmp_path / "broker")
    ready = SPAWN.Event()
    node = SPAWN.Process(target=workers.run_node,
                         args=(root, "far", "mc", ["rpcutil"], ready))
    node.start()
    config = config_from_text(f"identity = me\nplugin.kombu.url = filesystem://{root}\n")
    client = KombuConnector(load_options("kombu", config))
    try:
        assert ready.wait(60)
        client.connect(timeout=10)
        reply_to = client.subscribe_replies()
        inbox = Inbox()
        client.start(inbox)
        for i in range(5):
            client.publish_request(f"{reply_to}|{i}".encode(), collective="mc",
                                   agent="rpcutil", ttl=60)
        assert inbox.wait_count(5, timeout=30)
        assert inbox.bodies() == [f"far:{i}".encode() for i in range(5)]
    finally:
        os.kill(node.pid, signal.SIGKILL)
        node.join(timeout=30)
        client.close()

    broker = FsBroker(root)
    assert broker.has_queue("mc.node.far")  # the dead node's queue is still there...
    janitor = KombuConnector(load_options("kombu", config))
    janitor.connect(timeout=10)  # ...until anyone connects (or a consumer's next sweep)
    janitor.close()
    assert not broker.has_queue("mc.node.far")
    assert broker.bindings("mc.broadcast") == []
    assert broker.bindings("mc.directed") == []
    assert os.listdir(broker.queues_dir) == []
    assert os.listdir(broker.sessions_dir) == []
