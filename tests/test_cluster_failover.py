"""A real three-node RabbitMQ cluster on this machine (private nodes, their own ports,
started once for this module): daemons and a client with the failover list of all
three nodes connect to the first; it is killed (SIGKILL: a crash); the daemons and
the running client move to another node, and 1,000 requests sent after the move
are each answered by every node. Queues are classic, non-mirrored, on the node of the
connection that declares them (see docs/middleware.md: why not quorum queues)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet import daemon_stats, ok

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import RabbitMQCluster, brokers_required

pytestmark = [pytest.mark.broker("amqp"), pytest.mark.slow]

NODES = ("n1.example.net", "n2.example.net")
REQUESTS = 1000


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitMQCluster]:
    cluster = RabbitMQCluster(3)
    if not cluster.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but rabbitmq-server is not installed")
        pytest.skip("rabbitmq-server is not installed")
    try:
        cluster.start()
        print(f"3-node RabbitMQ cluster formed in {cluster.start_time:.1f}s")
        yield cluster
    finally:
        cluster.close()


def ping_round(session: Any, collective: str, targets: list[str] | None = None,
               timeout: float = 10) -> set[str]:
    request = session.new_request("rpcutil", "ping", collective=collective)
    replies = session.expect(request.id)
    session.publish(request, targets=targets)
    senders: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(senders) < len(NODES) and time.monotonic() < deadline:
            senders.update(r.sender for r, _ in replies.take(deadline - time.monotonic()))
    finally:
        session.forget(request.id)
    return senders


def node_logs(collective: LocalCollective) -> str:
    """What each daemon logged after the kill (for a failure's message)."""
    out = []
    for identity, node in collective.nodes.items():
        log = node.directory / "mcollectived.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        out.append(f"--- {identity}\n" + "\n".join(lines[-25:]))
    return "\n".join(out)


def test_killing_the_connected_node_loses_no_reply_sent_after_the_move(
        cluster: RabbitMQCluster, tmp_path: Path) -> None:
    from mcollective.client.session import ClientSession
    from mcollective.config import load_config

    urls = ",".join(cluster.urls)
    name = f"cl{os.getpid()}{tmp_path.name[-6:]}".replace("-", "").replace("_", "")
    collective = LocalCollective(tmp_path, connector_url=urls, collectives=(name,),
                                 extra_config={"plugin.kombu.max_backoff": 1,
                                               "plugin.kombu.heartbeat": 5})
    with collective:
        for identity in NODES:
            # debug: a failure's message shows these logs
            collective.add_node(identity, wait=False, settings={"loglevel": "debug"})
        for node in collective.nodes.values():
            collective.wait_ready(node)
        first = cluster.nodes[0]
        for identity in NODES:
            assert daemon_stats(collective, identity)["connector"]["broker"].endswith(
                f":{first.port}//")
        session = ClientSession(load_config(collective.client_config, role="client"))
        session.connect()
        try:
            assert ping_round(session, name) == set(NODES)

            cluster.kill(0)
            killed = time.monotonic()
            # Requests published while the daemons are still reconnecting may be lost
            # (at most once); the failover is over when every node answers again.
            while ping_round(session, name, timeout=2) != set(NODES):
                assert time.monotonic() - killed < 60, \
                    f"no failover within 60s; client {session.counters}\n" + node_logs(collective)
            took = time.monotonic() - killed
            print(f"every node answered again {took:.1f}s after its broker node died")

            expected: dict[str, set[str]] = {}
            queues = {}
            for i in range(REQUESTS):
                request = session.new_request("rpcutil", "ping", collective=name)
                queues[request.id] = session.expect(request.id)
                target = None if i % 2 == 0 else [NODES[(i // 2) % 2]]
                session.publish(request, targets=target)
                expected[request.id] = set(target or NODES)
            deadline = time.monotonic() + 120
            got: dict[str, set[str]] = {rid: set() for rid in expected}
            for rid, replies in queues.items():
                while got[rid] != expected[rid] and time.monotonic() < deadline:
                    got[rid].update(r.sender for r, _ in
                                    replies.take(max(0.0, deadline - time.monotonic())))
            missing = {rid: sorted(expected[rid] - got[rid]) for rid in expected
                       if got[rid] != expected[rid]}
            assert not missing, f"{len(missing)} of {REQUESTS} requests lost replies"
            assert session.counters["unexpected"] == 0
        finally:
            session.close()
        for identity in NODES:
            stats = daemon_stats(collective, identity)["connector"]
            assert stats["stats"]["failovers"] >= 1, stats
            assert not stats["broker"].endswith(f":{first.port}//"), stats
        # A new mco, with the same failover list, finds the live nodes.
        proc = ok(collective.mco("ping"))
        assert sorted(line.split()[0] for line in proc.stdout.splitlines()
                      if "time=" in line) == sorted(NODES)
