"""The three messaging patterns, on every transport (see conftest.broker).

"Not delivered" is proven without sleeping: after the message that must not arrive, a
*fence* is sent directly to every node on the same queue; queues keep order, so once a
node has its fence, anything routed to it before has arrived too.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
from kombu_test_support import AMQP_URL, Broker, Harness, Inbox, require_broker

from mcollective.errors import ConnectionFailed
from mcollective.testing.contracts import wait_until
from mcollective_connector_kombu.connector import KombuConnector


def fence(client: KombuConnector, collective: str, nodes: dict[str, Inbox]) -> None:
    """Send a fence to each identity in ``collective`` and wait until all arrived."""
    token = uuid.uuid4().hex.encode()
    for identity in nodes:
        client.publish_request(b"fence:" + token, collective=collective, agent="-", ttl=60,
                               targets=[identity])
    for identity, inbox in nodes.items():
        assert inbox.wait_for(lambda items, i=identity: (b"fence:" + token, i) in items), \
            f"fence to {identity} never arrived"


def test_broadcast_reaches_exactly_the_nodes_hosting_the_agent(harness: Harness,
                                                               broker: Broker) -> None:
    c1, c2 = broker.collective(), broker.collective()
    _, n1 = harness.node("n1", [c1], ["rpcutil", "package"])
    _, n2 = harness.node("n2", [c1, c2], ["rpcutil"])
    _, n3 = harness.node("n3", [c2], ["package"])
    client = harness.connector()

    client.publish_request(b"r1", collective=c1, agent="rpcutil", ttl=60)
    client.publish_request(b"p1", collective=c1, agent="package", ttl=60)
    client.publish_request(b"p2", collective=c2, agent="package", ttl=60)
    client.publish_request(b"x", collective=c2, agent="nosuchagent", ttl=60)
    fence(client, c1, {"n1": n1, "n2": n2})
    fence(client, c2, {"n2": n2, "n3": n3})

    def requests(inbox: Inbox) -> set[bytes]:
        return {b for b in inbox.bodies() if not b.startswith(b"fence:")}

    assert requests(n1) == {b"r1", b"p1"}
    assert requests(n2) == {b"r1"}
    assert requests(n3) == {b"p2"}
    assert all(i == "n1" for _, i in n1.items)


def test_one_connector_hosts_many_identities(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    node = harness.connector("host")
    node.subscribe_node("e1", [c], ["rpcutil"])
    node.subscribe_node("e2", [c], ["rpcutil", "package"])
    node.subscribe_node("e3", [c], ["package"])
    inbox = Inbox()
    node.start(inbox)
    client = harness.connector()

    client.publish_request(b"b", collective=c, agent="rpcutil", ttl=60)
    client.publish_request(b"d", collective=c, agent="rpcutil", ttl=60, targets=["e3"])
    assert inbox.wait_for(lambda items: len(items) == 3)
    assert sorted(inbox.items, key=repr) == sorted(
        [(b"b", "e1"), (b"b", "e2"), (b"d", "e3")], key=repr)


def test_direct_requests_reach_only_their_targets(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    nodes = {name: harness.node(name, [c], ["rpcutil"])[1] for name in ("n1", "n2", "n3")}
    client = harness.connector()

    client.publish_request(b"d13", collective=c, agent="rpcutil", ttl=60,
                           targets=["n1", "n3", "absent"])
    fence(client, c, nodes)

    assert nodes["n1"].has(b"d13") and nodes["n3"].has(b"d13")
    assert not nodes["n2"].has(b"d13")
    assert nodes["n1"].bodies().count(b"d13") == 1


def test_replies_reach_only_their_client(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    node, _ = harness.node("n1", [c], ["rpcutil"])
    _, inbox_a, reply_a = harness.client("alice")
    _, inbox_b, reply_b = harness.client("bob")
    assert reply_a != reply_b

    node.publish_reply(b"for-a", reply_a, ttl=60)
    node.publish_reply(b"for-b", reply_b, ttl=60)
    node.publish_reply(b"for-a-2", reply_a, ttl=60)

    assert inbox_a.wait_count(2) and inbox_b.wait_count(1)
    assert inbox_a.items == [(b"for-a", None), (b"for-a-2", None)]
    assert inbox_b.items == [(b"for-b", None)]


def test_request_reply_round_trip(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    node = harness.connector("n1")
    node.subscribe_node("n1", [c], ["echo"])

    def serve(body: bytes, identity: str | None) -> None:
        reply_to, _, payload = body.partition(b"|")
        node.publish_reply(identity.encode() + b":" + payload, reply_to.decode(), ttl=60)

    node.start(serve)
    _, inbox, reply_to = harness.client()
    for i in range(20):
        node_msg = reply_to.encode() + b"|" + str(i).encode()
        harness.connectors[-1].publish_request(node_msg, collective=c, agent="echo", ttl=60)
    assert inbox.wait_count(20)
    assert inbox.bodies() == [f"n1:{i}".encode() for i in range(20)]


def test_resubscribe_replaces_agents_and_collectives(harness: Harness,
                                                     broker: Broker) -> None:
    c1, c2 = broker.collective(), broker.collective()
    node, inbox = harness.node("n1", [c1, c2], ["a", "b"])
    client = harness.connector()

    # Reload while consuming: agent a removed, c added, collective c2 dropped.
    node.subscribe_node("n1", [c1], ["b", "c"])
    assert node.describe()["nodes"] == {"n1": {"collectives": [c1], "agents": ["b", "c"]}}

    for agent in ("a", "b", "c"):
        client.publish_request(agent.encode(), collective=c1, agent=agent, ttl=60)
    client.publish_request(b"c2-b", collective=c2, agent="b", ttl=60)
    client.publish_request(b"c2-direct", collective=c2, agent="b", ttl=60, targets=["n1"])
    fence(client, c1, {"n1": inbox})

    requests = [b for b in inbox.bodies() if not b.startswith(b"fence:")]
    assert requests == [b"b", b"c"]

    # And back again: the same queue is bound anew.
    node.subscribe_node("n1", [c1, c2], ["a"])
    client.publish_request(b"a-again", collective=c2, agent="a", ttl=60)
    assert inbox.wait_for(lambda items: (b"a-again", "n1") in items)


def test_unsubscribe_node_stops_delivery(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    node = harness.connector("host")
    node.subscribe_node("gone", [c], ["rpcutil"])
    node.subscribe_node("kept", [c], ["rpcutil"])
    inbox = Inbox()
    node.start(inbox)
    client = harness.connector()

    node.unsubscribe_node("gone")
    client.publish_request(b"b", collective=c, agent="rpcutil", ttl=60)
    client.publish_request(b"d", collective=c, agent="rpcutil", ttl=60, targets=["gone"])
    fence(client, c, {"kept": inbox})
    assert sorted(inbox.items, key=repr) == sorted(
        [(b"b", "kept"), (inbox.items[-1][0], "kept")], key=repr)


def test_handler_exceptions_do_not_stop_consumption(harness: Harness,
                                                     broker: Broker) -> None:
    c = broker.collective()
    node = harness.connector("n1")
    node.subscribe_node("n1", [c], ["rpcutil"])
    inbox = Inbox()

    def flaky(body: bytes, identity: str | None) -> None:
        inbox(body, identity)
        if body.startswith(b"boom"):
            raise RuntimeError("handler bug")

    node.start(flaky)
    client = harness.connector()
    for body in (b"boom1", b"ok1", b"boom2", b"ok2"):
        client.publish_request(body, collective=c, agent="rpcutil", ttl=60)
    assert inbox.wait_count(4)
    assert inbox.bodies() == [b"boom1", b"ok1", b"boom2", b"ok2"]
    assert node.stats["handler_errors"] == 2
    assert node.stats["received"] == 4


def test_publishing_is_thread_safe(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    _, inbox = harness.node("n1", [c], ["rpcutil"])
    client = harness.connector()
    threads = [threading.Thread(target=lambda t=t: [
        client.publish_request(f"{t}-{i}".encode(), collective=c, agent="rpcutil", ttl=60)
        for i in range(50)]) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inbox.wait_count(200)
    assert sorted(inbox.bodies()) == sorted(f"{t}-{i}".encode()
                                            for t in range(4) for i in range(50))
    assert client.stats["published"] == 200


def test_close_removes_the_queues(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    node = harness.connector("n1")
    node.subscribe_node("n1", [c], ["rpcutil"])
    reply_to = node.subscribe_replies()
    node.start(Inbox())
    node_queue = f"{c}.node.n1"
    assert queue_exists(broker, node_queue)
    if broker.family != "redis":  # an empty Redis list does not exist
        assert queue_exists(broker, reply_to)

    node.close()

    assert not queue_exists(broker, node_queue)
    assert not queue_exists(broker, reply_to)
    # Nothing routes to the closed node any more (no queue is re-created).
    client = harness.connector()
    client.publish_request(b"late", collective=c, agent="rpcutil", ttl=60)
    client.publish_request(b"late", collective=c, agent="rpcutil", ttl=60, targets=["n1"])
    client.publish_reply(b"late", reply_to, ttl=60)
    if broker.family != "memory":  # memory re-creates on publish; one process anyway
        assert not queue_exists(broker, node_queue)
        assert not queue_exists(broker, reply_to)


def test_close_from_inside_the_handler(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    node = harness.connector("n1")
    node.subscribe_node("n1", [c], ["rpcutil"])
    closed = threading.Event()

    def handler(body: bytes, identity: str | None) -> None:
        node.close()
        closed.set()

    node.start(handler)
    harness.connector().publish_request(b"stop", collective=c, agent="rpcutil", ttl=60)
    assert closed.wait(10)
    deadline = time.monotonic() + 10
    while queue_exists(broker, f"{c}.node.n1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not queue_exists(broker, f"{c}.node.n1")
    assert not node.describe()["consuming"]


def test_publish_after_close_fails_clearly(harness: Harness, broker: Broker) -> None:
    client = harness.connector()
    client.close()
    with pytest.raises(ConnectionFailed, match="closed"):
        client.publish_request(b"x", collective="c", agent="a", ttl=60)
    client.close()  # idempotent


def test_describe_reports_url_and_counters(harness: Harness, broker: Broker) -> None:
    c = broker.collective()
    node, inbox = harness.node("n1", [c], ["rpcutil"])
    harness.connector().publish_request(b"x", collective=c, agent="rpcutil", ttl=60)
    assert inbox.wait_count(1)
    info = node.describe()
    assert info["transport"] == broker.family
    assert "guest:guest" not in info["url"]
    assert info["consuming"] is True
    assert info["stats"]["received"] == 1
    assert set(info["stats"]) >= {"published", "publish_errors", "received", "reconnects",
                                  "disconnects"}


def test_reconnects_after_losing_the_broker_connection(network_harness: Harness,
                                                       network_broker: Broker) -> None:
    """Cut the sockets under both connections: the consumer reconnects and subscribes
    again by itself, the publisher reconnects on its next publish."""
    harness, broker = network_harness, network_broker
    c = broker.collective()
    node, inbox = harness.node("n1", [c], ["rpcutil"])
    client = harness.connector()
    client.publish_request(b"before", collective=c, agent="rpcutil", ttl=60)
    assert inbox.wait_count(1)

    if broker.family == "amqp":
        consumer_socket = node._conn.connection.sock  # type: ignore[union-attr]
        client._pub_conn.connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
    else:
        consumer_socket = node._channel.client.connection._sock
    consumer_socket.shutdown(socket.SHUT_RDWR)
    deadline = time.monotonic() + 30
    while node.stats["reconnects"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.stats["reconnects"] == 1
    assert node.stats["disconnects"] == 1

    client.publish_request(b"after", collective=c, agent="rpcutil", ttl=60)
    assert inbox.wait_count(2)
    assert inbox.bodies() == [b"before", b"after"]
    assert client.stats["publish_errors"] == 0


@pytest.mark.broker("amqp")
def test_amqp_requests_expire_after_their_ttl(tmp_path: object) -> None:
    """RabbitMQ enforces per-message expiration = ttl: a node that was not consuming
    for longer than the ttl never sees the request."""
    require_broker("amqp", AMQP_URL)
    broker = Broker("amqp", AMQP_URL)
    harness = Harness(broker)
    try:
        c = broker.collective()
        node = harness.connector("n1")
        node.subscribe_node("n1", [c], ["rpcutil"])  # queue exists, nobody consumes yet
        client = harness.connector()
        client.publish_request(b"short", collective=c, agent="rpcutil", ttl=1)
        client.publish_request(b"long", collective=c, agent="rpcutil", ttl=60)
        threading.Event().wait(1.5)
        inbox = Inbox()
        node.start(inbox)
        assert inbox.wait_count(1)
        fence(client, c, {"n1": inbox})
        assert not inbox.bodies().count(b"short")
        assert inbox.bodies()[0] == b"long"
    finally:
        harness.close()
        broker.cleanup()


def queue_exists(broker: Broker, queue: str) -> bool:
    if broker.family == "filesystem":
        from mcollective_connector_kombu.fsbroker import FsBroker

        return FsBroker(broker.url.removeprefix("filesystem://")).has_queue(queue)
    if broker.family == "memory":
        from mcollective_connector_kombu.transports import MemoryChannel

        return queue in MemoryChannel.queues
    if broker.family == "redis":
        import redis

        from mcollective_connector_kombu.transports import OWNERS_KEY

        client = redis.Redis.from_url(broker.url)
        try:
            # An empty Redis list does not exist: its owner entry does.
            return bool(client.exists(queue) or client.hexists(OWNERS_KEY, queue))
        finally:
            client.close()
    import amqp
    import kombu

    with kombu.Connection(broker.url, connect_timeout=5) as conn:
        try:
            conn.channel().queue_declare(queue=queue, passive=True)
            return True
        except amqp.exceptions.ResourceLocked:  # exclusive to its owner: it exists
            return True
        except amqp.exceptions.NotFound:
            return False


def test_publisher_recovers_after_failing_during_an_outage(network_broker: Broker) -> None:
    """Replies published while the broker is away fail (counted, never raised to a
    worker as a crash); once it is back, the next reply goes out: a publisher whose
    reconnection failed must not stay disconnected for good."""
    from mcollective.testing.brokers import TcpProxy

    proxy = TcpProxy.for_url(network_broker.url).start()
    harness = Harness(Broker(network_broker.family, proxy.url(network_broker.url)))
    try:
        node = harness.connector("n1")
        client, inbox, reply_to = harness.client("client")
        proxy.cut()
        for _ in range(3):  # the first tries (and fails) to reconnect, the rest fail fast
            node.publish_reply(b"lost", reply_to, ttl=60)
        assert wait_until(lambda: node.stats["publish_errors"] >= 3, 30)
        assert node.stats["disconnects"] == 1  # one loss, however many failed publishes
        proxy.restore()
        assert wait_until(lambda: client.stats["reconnects"] >= 1, 30)

        def delivered() -> bool:
            node.publish_reply(b"back", reply_to, ttl=60)
            return inbox.wait_for(lambda items: (b"back", None) in items, timeout=0.5)

        assert wait_until(delivered, 30), "the publisher never came back"
        assert b"lost" not in inbox.bodies()
    finally:
        harness.close()
        proxy.cut()


@pytest.mark.broker("amqp")
def test_slow_broker_answers_never_break_the_consumer(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    """Between drains the consuming socket keeps the drain timeout (fewer system calls
    per frame); a synchronous call (declare, bind, consume) made while consuming must
    not inherit it, or a broker slower to answer than the drain timeout would make the
    connector rebuild its connection, losing what was in flight. A drain timeout far
    below a broker round trip shows it."""
    import mcollective_connector_kombu.connector as connector_module

    require_broker("amqp", AMQP_URL)
    broker = Broker("amqp", AMQP_URL)
    harness = Harness(broker)
    monkeypatch.setattr(connector_module, "DRAIN_TIMEOUT", 0.0002)
    try:
        c = broker.collective()
        node = harness.connector("host")
        inbox = Inbox()
        node.start(inbox)
        client = harness.connector()
        for i in range(20):
            node.subscribe_node(f"e{i}", [c], ["rpcutil"])
            client.publish_request(b"%d" % i, collective=c, agent="rpcutil", ttl=60,
                                   targets=[f"e{i}"])
        assert inbox.wait_count(20)
        assert node.stats["reconnects"] == 0
    finally:
        harness.close()
        broker.cleanup()



@pytest.mark.broker("amqp")
def test_a_failed_resubscription_leaves_no_consumer_behind() -> None:
    """A reconnection whose re-subscription fails half-way (the queue already consumed,
    a later step refused) tries again on a new connection; the first one is closed.
    Left open, its consumer kept a share of the queue's messages that nobody read: a
    node answering only some requests, or none (seen once in a cluster failover)."""
    import kombu

    from mcollective_connector_kombu import topology

    require_broker("amqp", AMQP_URL)
    broker = Broker("amqp", AMQP_URL)
    harness = Harness(broker)
    try:
        c = broker.collective()
        node, inbox = harness.node("n1", [c], ["rpcutil"])
        real = node._restore
        calls: list[int] = []

        def restore_then_refuse() -> None:
            real()
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("refused after subscribing (simulated)")

        node._restore = restore_then_refuse  # type: ignore[method-assign]
        node._conn.connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        assert wait_until(lambda: node.stats["reconnects"] >= 1, timeout=30)
        assert len(calls) == 2
        with kombu.Connection(AMQP_URL) as conn:
            _, _, consumers = conn.default_channel.queue_declare(
                queue=topology.node_queue(c, "n1"), passive=True)
        assert consumers == 1
        client = harness.connector()
        for i in range(6):
            client.publish_request(b"r%d" % i, collective=c, agent="rpcutil", ttl=60)
        assert inbox.wait_count(6)
    finally:
        harness.close()
        broker.cleanup()
