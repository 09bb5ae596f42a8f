"""Broker faults with real daemons, the real ``mco`` and real brokers.

* a broker that goes away and comes back while daemons run: RabbitMQ and Redis behind
  a TCP proxy this test cuts and restores (the shared brokers stay up for everyone
  else), and a private ``redis-server`` really restarted, its state lost;
* a client started while the broker is down fails with a clear message instead of
  hanging;
* a daemon killed with SIGKILL during a burst of requests: its queue disappears
  (RabbitMQ at once; Redis and the filesystem broker by the janitor) and requests to it
  stop piling up;
* a client killed in the middle of a request: its reply queue disappears.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet import daemon_stats

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import (
    RedisServer,
    TcpProxy,
    brokers_required,
    free_port,
    require_broker,
)

#: Fast failure detection for the tests (defaults are gentler on a real broker).
FAST = {"plugin.kombu.max_backoff": 1, "plugin.kombu.liveness_timeout": 3,
        "plugin.kombu.janitor_interval": 1, "plugin.kombu.heartbeat": 5}
RECOVERY = 10.0  # seconds the issue allows daemons to be back and answering


def answered(collective: LocalCollective, *args: str) -> set[str]:
    proc = collective.mco("ping", "--connection-timeout", "3", *args, timeout=60)
    return {line.split()[0] for line in proc.stdout.splitlines() if "time=" in line}


def wait_answering(collective: LocalCollective, nodes: set[str], timeout: float) -> float:
    """Seconds until a ping got every node's answer; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if answered(collective) >= nodes:
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"{sorted(nodes)} not all answering {timeout:g}s after the broker came back")


def collective_on(tmp_path: Path, url: str, **extra: Any) -> LocalCollective:
    name = f"f{os.getpid()}{tmp_path.name[-8:]}".replace("-", "").replace("_", "")
    return LocalCollective(tmp_path, connector_url=url, collectives=(name,),
                           extra_config={**FAST, **extra})


def reconnects(collective: LocalCollective, identity: str) -> int:
    return int(daemon_stats(collective, identity)["connector"]["stats"]["reconnects"])


@pytest.fixture(params=[pytest.param("amqp", marks=pytest.mark.broker("amqp")),
                        pytest.param("redis", marks=pytest.mark.broker("redis"))])
def network_url(request: pytest.FixtureRequest) -> str:
    return require_broker(request.param)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    if not server.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the broker goes away and comes back --------------------------------------------------


def test_daemons_recover_when_the_broker_connection_is_cut(tmp_path: Path,
                                                           network_url: str) -> None:
    proxy = TcpProxy.for_url(network_url).start()
    try:
        with collective_on(tmp_path, proxy.url(network_url)) as collective:
            for name in ("n1", "n2"):
                collective.add_node(name, wait=False)
            for node in collective.nodes.values():
                collective.wait_ready(node)
            nodes = {"n1", "n2"}
            assert answered(collective) == nodes

            proxy.cut()
            # While it is down a client says so, quickly and clearly.
            down = collective.mco("ping", "--connection-timeout", "2", timeout=60)
            assert down.returncode != 0
            assert "cannot connect to" in down.stderr, down.stderr
            time.sleep(1)
            proxy.restore()

            took = wait_answering(collective, nodes, RECOVERY)
            print(f"answering again {took:.2f}s after the broker came back")
            assert all(node.alive() for node in collective.nodes.values())
            assert all(reconnects(collective, n) >= 1 for n in nodes)
    finally:
        proxy.stop()


def test_daemons_recover_from_a_real_redis_restart(tmp_path: Path,
                                                   private_redis: RedisServer) -> None:
    """Redis loses everything on restart (no persistence): the daemons must notice,
    reconnect, and declare their queues and subscriptions again."""
    with collective_on(tmp_path, private_redis.url) as collective:
        for name in ("n1", "n2"):
            collective.add_node(name, wait=False)
        for node in collective.nodes.values():
            collective.wait_ready(node)
        nodes = {"n1", "n2"}
        assert answered(collective) == nodes

        private_redis.restart()

        took = wait_answering(collective, nodes, RECOVERY)
        print(f"answering again {took:.2f}s after the restart")
        assert all(node.alive() for node in collective.nodes.values())
        assert all(reconnects(collective, n) >= 1 for n in nodes)
        # Direct addressing works too (the node lists were declared again).
        assert answered(collective, "-I", "n2") == {"n2"}


@pytest.mark.parametrize("scheme", ["amqp", "redis", "sqs"])
def test_client_with_the_broker_down_fails_clearly(tmp_path: Path, scheme: str) -> None:
    port = free_port()  # nothing listens there
    url = {"amqp": f"amqp://guest:secret@127.0.0.1:{port}//",
           "redis": f"redis://127.0.0.1:{port}/0",
           "sqs": f"sqs://testing:secret@127.0.0.1:{port}"}[scheme]
    extra = {"plugin.kombu.sqs_secure": "false"} if scheme == "sqs" else {}
    if scheme == "sqs":
        pytest.importorskip("boto3")
    collective = LocalCollective(tmp_path, connector_url=url, extra_config=extra)
    started = time.monotonic()
    proc = collective.mco("ping", "--connection-timeout", "2", timeout=60)
    took = time.monotonic() - started
    assert proc.returncode != 0
    assert "cannot connect to" in proc.stderr and f"127.0.0.1:{port}" in proc.stderr
    assert "secret" not in proc.stderr
    print(f"{scheme}: failed after {took:.2f}s: {proc.stderr.strip()}")


# --- processes killed -------------------------------------------------------------------


@pytest.fixture(params=["filesystem",
                        pytest.param("amqp", marks=pytest.mark.broker("amqp")),
                        pytest.param("redis", marks=pytest.mark.broker("redis"))])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "filesystem":
        return f"filesystem://{tmp_path}/broker"
    return require_broker(request.param)


def queue_present(url: str, queue: str) -> bool:
    """Whether ``queue`` exists (or, on Redis, is still owned or holds messages)."""
    if url.startswith("filesystem://"):
        from mcollective_connector_kombu.fsbroker import FsBroker

        return FsBroker(url.removeprefix("filesystem://")).has_queue(queue)
    if url.startswith("redis"):
        import redis

        from mcollective_connector_kombu.transports import OWNERS_KEY

        client = redis.Redis.from_url(url)
        try:
            return bool(client.exists(queue) or client.hexists(OWNERS_KEY, queue))
        finally:
            client.close()
    import amqp
    import kombu

    with kombu.Connection(url, connect_timeout=5) as conn:
        try:
            conn.channel().queue_declare(queue=queue, passive=True)
            return True
        except amqp.exceptions.ResourceLocked:
            return True
        except amqp.exceptions.NotFound:
            return False


def wait_gone(url: str, queue: str, timeout: float = 20.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not queue_present(url, queue):
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"{queue} still there {timeout:g}s after its owner was killed")


CLIENT_SCRIPT = textwrap.dedent("""
    import sys, time
    from mcollective.client.session import ClientSession
    from mcollective.config import load_config
    session = ClientSession(load_config(sys.argv[1], role="client"))
    session.connect()
    print(session.reply_to, flush=True)
    # A burst of requests to the target (and real signed pings, whose replies come
    # back into our reply queue), until killed.
    n = 0
    while True:
        session.connector.publish_request(b"burst %d" % n, collective=sys.argv[2],
                                          agent="rpcutil", ttl=60, targets=[sys.argv[3]])
        if n % 10 == 0:
            session.publish(session.new_request("rpcutil", "ping"))
        n += 1
        time.sleep(0.002)
""")


def start_client_script(collective: LocalCollective, tmp_path: Path, target: str
                        ) -> tuple[subprocess.Popen[str], str]:
    script = tmp_path / "client_script.py"
    script.write_text(CLIENT_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(collective.client_config),
                             collective.collectives[0], target],
                            env=collective.env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    reply_to = proc.stdout.readline().strip()
    assert reply_to, "the client script did not start"
    return proc, reply_to


def test_sigkill_during_a_burst_leaves_nothing_behind(tmp_path: Path, any_url: str) -> None:
    with collective_on(tmp_path, any_url) as collective:
        victim = collective.add_node("victim")
        collective.add_node("survivor")
        c = collective.collectives[0]
        queue = f"{c}.node.victim"
        assert queue_present(any_url, queue)
        burst, _ = start_client_script(collective, tmp_path, "victim")
        try:
            time.sleep(1.0)  # the burst is flowing
            victim.signal(signal.SIGKILL)
            victim.process.wait(10)  # type: ignore[union-attr]
            took = wait_gone(any_url, queue)  # while the burst goes on
            print(f"the killed daemon's queue was gone after {took:.2f}s")
            time.sleep(1.0)
            assert not queue_present(any_url, queue), "requests piled up again"
        finally:
            burst.kill()
            burst.wait(10)
        assert answered(collective) == {"survivor"}


def test_killed_client_leaves_no_reply_queue(tmp_path: Path, any_url: str) -> None:
    with collective_on(tmp_path, any_url) as collective:
        collective.add_node("n1")
        client, reply_to = start_client_script(collective, tmp_path, "n1")
        assert queue_present(any_url, reply_to)
        time.sleep(0.5)  # mid-request: the node is answering into the reply queue
        client.send_signal(signal.SIGKILL)
        client.wait(10)
        took = wait_gone(any_url, reply_to)
        print(f"the killed client's reply queue was gone after {took:.2f}s")
        assert answered(collective) == {"n1"}
