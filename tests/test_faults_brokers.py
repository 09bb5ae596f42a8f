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
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fleet import daemon_stats

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import (
    RabbitMQServer,
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
    logs = "".join(f"\n--- {name}, last lines of its log:\n"
                   + "\n".join(node.log().splitlines()[-6:])
                   for name, node in sorted(collective.nodes.items()))
    pytest.fail(f"{sorted(nodes)} not all answering {timeout:g}s after the broker came back"
                + logs)


def start_two_daemons(collective: LocalCollective) -> set[str]:
    """Daemons n1 and n2, started together; both answer a ping."""
    for name in ("n1", "n2"):
        collective.add_node(name, wait=False)
    for node in collective.nodes.values():
        collective.wait_ready(node)
    nodes = {"n1", "n2"}
    assert answered(collective) == nodes
    return nodes


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


@pytest.fixture
def private_rabbitmq() -> Iterator[RabbitMQServer]:
    """A RabbitMQ node of this test's own (see RabbitMQServer): stopped, and its
    directory removed, whatever happens."""
    server = RabbitMQServer()
    if not server.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but rabbitmq-server is not installed")
        pytest.skip("rabbitmq-server is not installed")
    try:
        server.start()
        print(f"private RabbitMQ {server.node} up in {server.start_times[-1]:.2f}s")
        yield server
    finally:
        server.close()


# --- the broker goes away and comes back --------------------------------------------------


def test_daemons_recover_when_the_broker_connection_is_cut(tmp_path: Path,
                                                           network_url: str) -> None:
    proxy = TcpProxy.for_url(network_url).start()
    try:
        with collective_on(tmp_path, proxy.url(network_url)) as collective:
            nodes = start_two_daemons(collective)

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


@pytest.fixture(params=[pytest.param("rabbitmq", marks=[pytest.mark.broker("amqp"),
                                                         pytest.mark.slow]),
                        pytest.param("redis", marks=pytest.mark.broker("redis"))])
def restartable_broker(request: pytest.FixtureRequest) -> Any:
    """A private broker that a test may really restart: RabbitMQ (SIGTERM, back with
    its data but without our exclusive and auto-delete queues) or Redis (no
    persistence: everything lost)."""
    if request.param == "rabbitmq":
        return request.getfixturevalue("private_rabbitmq")
    return request.getfixturevalue("private_redis")


def test_daemons_recover_from_a_real_broker_restart(tmp_path: Path,
                                                    restartable_broker: Any) -> None:
    """The daemons must notice, reconnect, and declare their queues, bindings and
    subscriptions again."""
    broker = restartable_broker
    with collective_on(tmp_path, broker.url) as collective:
        nodes = start_two_daemons(collective)

        broker.restart()

        took = wait_answering(collective, nodes, RECOVERY)
        print(f"answering again {took:.2f}s after the restart")
        assert all(node.alive() for node in collective.nodes.values())
        assert all(reconnects(collective, n) >= 1 for n in nodes)
        # Direct addressing works too (the node queues were declared again).
        assert answered(collective, "-I", "n2") == {"n2"}


# --- a broker restart while clients keep asking -------------------------------------------

#: How long one ``mco`` may take before the test calls it hung.
HANG = 60.0
#: The stream: ``mco rpc`` (discovery, then a call) and ``mco ping``, one after the other.
STREAM = [("rpc", "--np", "-t", "8", "--connection-timeout", "3", "rpcutil", "ping"),
          ("ping", "--connection-timeout", "3")]
#: A line of ``mco`` itself (not a log line) that says what the broker did.
BROKER_TROUBLE = re.compile(r"^mco (rpc|ping): .*(cannot connect to|cannot reconnect to|"
                            r"cannot publish to|lost the connection to) (\S+)", re.M)


@dataclass
class ClientRun:
    args: tuple[str, ...]
    started: float
    label: str = ""
    ended: float = 0.0
    returncode: int | None = None  # None: killed after HANG seconds
    stdout: str = ""
    stderr: str = ""

    def complete(self, nodes: set[str]) -> bool:
        """Succeeded, with every node's answer."""
        if self.returncode != 0:
            return False
        if self.args[0] == "ping":
            return all(re.search(rf"^{n} +time=", self.stdout, re.M) for n in nodes)
        return f"Finished processing {len(nodes)} / {len(nodes)} hosts" in self.stdout

    def summary(self) -> str:
        """When it ran, how it ended, and its last line on stderr that is not a log
        line (those begin with the date)."""
        said = [line for line in self.stderr.splitlines()
                if line.strip() and not line[:1].isdigit()]
        return (f"{self.label or ' '.join(self.args[:1] + self.args[-2:])}: "
                f"{self.started:.1f}s..{self.ended:.1f}s, exit {self.returncode}: "
                + (said[-1] if said else "-"))


def run_client(collective: LocalCollective, args: tuple[str, ...], epoch: float,
               label: str = "") -> ClientRun:
    run = ClientRun(args, time.monotonic() - epoch, label)
    try:
        proc = collective.mco(*args, timeout=HANG)
        run.returncode, run.stdout, run.stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        run.stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        run.stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
    run.ended = time.monotonic() - epoch
    return run


def judge(run: ClientRun, nodes: set[str], broker: str, *, down: float, up: float,
          settled: float, in_flight: bool = False) -> str | None:
    """What is wrong with one client run (``None``: nothing), given when the broker went
    down and came back up, and when every daemon answered again (seconds, same clock).

    * never a hang, never a traceback;
    * a run that failed says, in a line of its own, what the broker did and names it;
      except that a run that may have connected after the broker was back, while the
      daemons were still reconnecting, may simply find nodes silent (it saw no fault);
      not so a run known to be ``in_flight`` (connected) when the broker went down;
    * a run that succeeded got every node's answer, unless in that same window;
    * every run that ended before the broker went down, or began after the daemons
      answered again, succeeded completely."""
    if run.returncode is None:
        return f"hung for {HANG:g}s"
    if "Traceback" in run.stderr:
        return "printed a traceback"
    recovering = run.ended > up and run.started < settled and not in_flight
    if run.ended < down or run.started > settled:
        return None if run.complete(nodes) else "failed while the broker was up"
    if run.returncode == 0:
        return None if run.complete(nodes) or recovering else "succeeded with nodes missing"
    said = BROKER_TROUBLE.search(run.stderr)
    if said:
        return None if broker in said.group(3) else f"named {said.group(3)}, not {broker}"
    return None if recovering else "failed without saying the broker failed"


def test_broker_restart_during_a_stream_of_requests(tmp_path: Path,
                                                    restartable_broker: Any) -> None:
    """Clients keep calling while the broker restarts, one of them in the middle of a
    long request (published, the nodes at work) when it goes down. Every client ends
    within its timeout, with results or with one line saying what the broker did and
    which nodes it left without an answer; the daemons come back and answer."""
    broker = restartable_broker
    where = f"127.0.0.1:{broker.port}"
    rabbit = isinstance(broker, RabbitMQServer)
    # RabbitMQ takes seconds to start; Redis is back at once, so its outage is made:
    # longer than a daemon's attempt to publish a reply (publish_timeout, 2 s).
    outage = 0.0 if rabbit else 4.0
    with collective_on(tmp_path, broker.url) as collective:
        nodes = start_two_daemons(collective)

        epoch = time.monotonic()
        runs: list[ClientRun] = []
        done = threading.Event()

        def stream() -> None:
            n = 0
            while not done.is_set():
                runs.append(run_client(collective, STREAM[n % len(STREAM)], epoch))
                n += 1

        streaming = threading.Thread(target=stream, name="client-stream")
        streaming.start()
        # The long request: each node touches a file when it starts working, and
        # replies half a second after the broker is down (it has to try and fail).
        started, down_file = tmp_path / "started", tmp_path / "broker-down"
        started.mkdir()
        script = (f"touch {started}/$$; while [ ! -e {down_file} ]; do sleep 0.05; done; "
                  "sleep 0.5")
        long_args = ("rpc", "--np", "-t", "20", "--connection-timeout", "3",
                     "-I", "n1", "-I", "n2", "shell", "run", f"command=sh -c '{script}'")
        long_run: list[ClientRun] = []
        long_client = threading.Thread(target=lambda: long_run.append(
            run_client(collective, long_args, epoch, "rpc shell run (in flight)")))
        try:
            long_client.start()
            deadline = time.monotonic() + 30
            while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(list(started.iterdir())) == 2, "the long request never arrived"

            down = time.monotonic() - epoch
            broker.stop()
            down_file.touch()
            time.sleep(outage)
            broker.start()
            up = time.monotonic() - epoch
            took = wait_answering(collective, nodes, RECOVERY)
            settled = time.monotonic() - epoch
            print(f"broker down at {down:.1f}s, up at {up:.1f}s; every daemon answering "
                  f"{took:.2f}s later")
            # A few more runs with everything back.
            count = len(runs)
            while len(runs) < count + 2 and time.monotonic() - epoch < settled + 2 * HANG:
                time.sleep(0.1)
        finally:
            done.set()
            streaming.join(HANG + 10)
            long_client.join(HANG + 10)

        everything = long_run + runs
        for run in everything:
            print(run.summary())
        assert long_run, "the long request did not end"
        problems = [f"{run.summary()}: {why}\n{run.stderr}" for run in everything
                    if (why := judge(run, nodes, where, down=down, up=up,
                                     settled=settled, in_flight=run is long_run[0]))]
        assert not problems, "\n".join(problems)
        assert all(node.alive() for node in collective.nodes.values())
        assert all(reconnects(collective, n) >= 1 for n in nodes)


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


@pytest.fixture(params=["filesystem",
                        pytest.param("amqp", marks=pytest.mark.broker("amqp")),
                        pytest.param("redis", marks=pytest.mark.broker("redis")),
                        pytest.param("sqs", marks=pytest.mark.broker("sqs"))])
def kill_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``any_url``, and SQS (a moto server): a killed daemon's queue has no broker to
    remove it there, only the janitor (a killed client's reply queue, though, is one of
    its host's long-lived reply slots by design)."""
    if request.param == "sqs":
        return str(request.getfixturevalue("sqs_url"))
    if request.param == "filesystem":
        return f"filesystem://{tmp_path}/broker"
    return require_broker(request.param)


#: moto speaks plain HTTP; short polls keep the test quick.
SQS_EXTRA = {"plugin.kombu.sqs_secure": "false", "plugin.kombu.sqs_wait_time": 0,
             "plugin.kombu.polling_interval": 0.02}


def sqs_client(url: str, service: str = "sqs") -> Any:
    import boto3

    return boto3.client(service, region_name="us-east-1", use_ssl=False,
                        endpoint_url=f"http://127.0.0.1:{url.rsplit(':', 1)[1]}",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def sqs_owned_with(url: str, queue: str) -> tuple[set[str], set[str]]:
    """The SQS queues owned by ``queue``'s owner (its marker included), and their ARNs."""
    from mcollective_connector_kombu.transports import SQS_OWNER_TAG

    sqs = sqs_client(url)
    urls = {u.rsplit("/", 1)[1]: u for u in sqs.list_queues(
        QueueNamePrefix=queue.split(".", 1)[0] + "-").get("QueueUrls", [])}
    owners = {name: (sqs.list_queue_tags(QueueUrl=u).get("Tags") or {}).get(SQS_OWNER_TAG)
              for name, u in urls.items()}
    owned = {name for name, owner in owners.items()
             if owner and owner == owners[queue.replace(".", "-")]}
    arns = {sqs.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"] for name in owned}
    return owned, arns


def sqs_subscriptions(url: str, endpoints: set[str]) -> list[str]:
    sns = sqs_client(url, "sns")
    return [sub["SubscriptionArn"]
            for topic in sns.list_topics().get("Topics", [])
            for sub in sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])[
                "Subscriptions"] if sub["Endpoint"] in endpoints]


def queue_present(url: str, queue: str) -> bool:
    """Whether ``queue`` exists (or, on Redis, is still owned or holds messages)."""
    if url.startswith("sqs://"):
        try:
            sqs_client(url).get_queue_url(QueueName=queue.replace(".", "-"))
            return True
        except Exception as exc:
            if "NonExistentQueue" in str(exc) or "QueueDoesNotExist" in str(exc):
                return False
            raise
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


def test_sigkill_during_a_burst_leaves_nothing_behind(tmp_path: Path, kill_url: str) -> None:
    any_url = kill_url
    sqs = any_url.startswith("sqs://")
    with collective_on(tmp_path, any_url, **(SQS_EXTRA if sqs else {})) as collective:
        victim = collective.add_node("victim")
        collective.add_node("survivor")
        c = collective.collectives[0]
        queue = f"{c}.node.victim"
        assert queue_present(any_url, queue)
        if sqs:  # its marker queue, and the SNS subscriptions of its node queue
            owned, endpoints = sqs_owned_with(any_url, queue)
            assert len(owned) == 2 and len(sqs_subscriptions(any_url, endpoints)) >= 1
        burst, _ = start_client_script(collective, tmp_path, "victim")
        try:
            time.sleep(1.0)  # the burst is flowing
            victim.signal(signal.SIGKILL)
            victim.process.wait(10)  # type: ignore[union-attr]
            took = wait_gone(any_url, queue)  # while the burst goes on
            print(f"the killed daemon's queue was gone after {took:.2f}s")
            time.sleep(1.0)
            assert not queue_present(any_url, queue), "requests piled up again"
            if sqs:
                assert not any(queue_present(any_url, q) for q in owned)
                assert sqs_subscriptions(any_url, endpoints) == []
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
