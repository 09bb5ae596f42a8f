"""Scale benchmark: broadcast ``rpcutil ping`` to N emulated nodes, next to raw kombu.

For each transport and N, in one run:

* **framework**: K ``mcollectived --emulate N/K`` processes (the real daemon, psk
  security, the kombu connector) and an in-process client session; one round is a
  signed broadcast ``rpcutil ping`` from publish to the N-th verified reply;
* **raw**: the same shape with plain kombu and no framework (kombu-transports.md §3):
  K server processes each consuming N/K node queues bound to a topic exchange, replying
  300-byte bodies on a second connection into one client reply queue.

Each does one warm-up round that must complete, then ``--rounds`` timed rounds; it
prints median and p90, replies/s (N / median), replies lost, the framework/raw ratio,
and the emulators' RSS (per process and per emulated node, against a 1-node emulator
measured in the same run). Then, once: the wall time of the whole ``mco rpc rpcutil
ping`` CLI on 100 emulated nodes, and the client's reply ingestion rate on memory://.

Only ratios measured in one run mean anything; the machine is shared.

Usage::

    python bench/scale.py                                   # amqp, redis, filesystem
    python bench/scale.py --transports amqp --nodes 10,100,1000,10000
    python bench/scale.py --transports redis --nodes 1000 --rounds 100   # the issue's check
    python bench/scale.py --transports sqs --nodes 10,100      # on a moto server it starts
    python bench/scale.py --transports nats,amqp --nodes 100,1000  # NATS next to RabbitMQ

NATS uses the ``nats`` connector (``mcollective-connector-nats``); its raw baseline is
plain nats-py: K processes each subscribing N/K node subscriptions to one broadcast
subject and publishing 300-byte replies to the client's reply subject.

SQS runs against ``MCO_TEST_SQS_URL`` if set, else a moto server started for the run
(plain HTTP). Both sides poll every queue they consume (``polling_interval`` 0.02 s, no
long polling, as the tests do): SQS has no push.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

URLS = {
    "amqp": os.environ.get("MCO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    "redis": os.environ.get("MCO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": os.environ.get("MCO_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}
PSK = "scale-benchmark-key"
#: Polling of SQS queues on both sides (see the module docstring).
SQS_POLL = 0.02
#: Emulator configuration per transport, beyond the URL.
EXTRA = {"sqs": f"plugin.kombu.sqs_secure = false\nplugin.kombu.sqs_wait_time = 0\n"
                f"plugin.kombu.polling_interval = {SQS_POLL}\n"}
REPLY_BODY = b"x" * 300
REQUEST_BODY = b"y" * 310


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def broker_pid(url: str) -> int | None:
    """The process listening on the broker's port (to count its CPU), if visible."""
    from urllib.parse import urlsplit

    import psutil

    port = urlsplit(url).port or {"amqp": 5672, "redis": 6379,
                                  "nats": 4222}.get(url.split(":")[0])
    if port is None:
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return int(conn.pid)
    except psutil.AccessDenied:
        pass
    return None


class CpuMeter:
    """CPU seconds (user + system) spent by the servers, this client process and the
    broker between start() and stop(): on a shared 2-core machine the round trip of a
    broadcast is bounded by the CPU the whole system spends on it, so this says where
    a difference from raw kombu comes from."""

    def __init__(self, servers: list[int], url: str) -> None:
        import psutil

        self.parts = {"servers": [psutil.Process(p) for p in servers],
                      "client": [psutil.Process()], "broker": []}
        pid = broker_pid(url)
        if pid is not None:
            self.parts["broker"].append(psutil.Process(pid))
        self.before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        out = {}
        for name, procs in self.parts.items():
            total = 0.0
            for proc in procs:
                times = proc.cpu_times()
                total += times.user + times.system
            out[name] = total
        return out

    def start(self) -> None:
        self.before = self._now()

    def stop(self, rounds: int) -> dict[str, float]:
        after = self._now()
        self.spent = {k: (after[k] - self.before[k]) * 1000 / rounds for k in after}
        return self.spent


def cpu_text(spent: dict[str, float] | None) -> str:
    if not spent:
        return "-"
    return "/".join(f"{spent[k]:.0f}" for k in ("servers", "client", "broker"))


def bin_script(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


# --- the framework -------------------------------------------------------------------


class Emulators:
    """K emulator processes for N nodes on ``url`` in collective ``collective``."""

    def __init__(self, root: Path, url: str, collective: str, nodes: int, procs: int
                 ) -> None:
        self.root, self.url, self.collective = root, url, collective
        self.extra = EXTRA.get(url.split(":", 1)[0], "")
        self.connector = "nats" if url.startswith(("nats://", "tls://")) else "kombu"
        self.nodes, self.procs = nodes, max(1, min(procs, nodes))
        self.processes: list[subprocess.Popen[bytes]] = []

    def config(self, identity: str, extra: str = "") -> Path:
        path = self.root / f"{identity}.cfg"
        path.write_text(
            f"identity = {identity}\ncollectives = {self.collective}\n"
            f"main_collective = {self.collective}\nconnector = {self.connector}\n"
            f"plugin.{self.connector}.url = {self.url}\nsecurityprovider = psk\n"
            f"plugin.psk = {PSK}\n"
            f"factsource = \nclassesfile = /nonexistent\nlogger_type = file\n"
            f"logfile = {self.root / identity}.log\nloglevel = warn\n"
            f"statedir = {self.root / 'state' / identity}\n{self.extra}{extra}")
        path.chmod(0o600)  # it holds the psk: a daemon refuses it readable by others
        return path

    def start(self) -> None:
        per = [self.nodes // self.procs + (1 if i < self.nodes % self.procs else 0)
               for i in range(self.procs)]
        offset = 0
        pidfiles = []
        for i, count in enumerate(per):
            cfg = self.config(f"emu{i}")
            pidfile = self.root / f"emu{i}.pid"
            pidfiles.append(pidfile)
            self.processes.append(subprocess.Popen(
                [bin_script("mcollectived"), "-c", str(cfg), "--pidfile", str(pidfile),
                 "--emulate", str(count), "--emulate-offset", str(offset)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            offset += count
        # 10,000 nodes start in about 40 s on RabbitMQ: allow 20 ms a node, 300 s at least.
        deadline = time.monotonic() + max(300.0, 0.02 * self.nodes)
        while not all(p.exists() and p.read_text().strip() for p in pidfiles):
            if time.monotonic() > deadline or any(p.poll() is not None
                                                  for p in self.processes):
                self.stop()
                raise RuntimeError("emulators did not start; see logs in " + str(self.root))
            time.sleep(0.05)

    def rss_mb(self) -> list[float]:
        import psutil

        return [psutil.Process(p.pid).memory_info().rss / 2**20 for p in self.processes]

    def stop(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def timed_rounds(one_round: Callable[[], tuple[float, int]], nodes: int, rounds: int,
                 meter: CpuMeter, what: str) -> dict[str, Any]:
    """Warm up until one round gets every reply (60 s, 4 ms a node, at most), then time ``rounds``
    rounds of ``one_round`` (returning seconds taken and replies received)."""
    warm = time.monotonic() + max(60.0, 0.004 * nodes)
    while True:  # until every node is subscribed and answering
        took, got = one_round()
        if got >= nodes:
            break
        print(f"# {what} warm-up: {got} of {nodes} replies in {took:.1f} s",
              file=sys.stderr, flush=True)
        if time.monotonic() > warm:
            raise RuntimeError(f"{what} warm-up never completed")
    meter.start()
    times, lost = [], 0
    for _ in range(rounds):
        took, got = one_round()
        times.append(took)
        lost += nodes - got
    return {"median": statistics.median(times), "p90": percentile(times, 0.9),
            "lost": lost, "cpu": meter.stop(rounds)}


def framework_rounds(em: Emulators, rounds: int, timeout: float) -> dict[str, Any]:
    from mcollective.client.session import ClientSession
    from mcollective.config import load_config

    session = ClientSession(load_config(em.config("bench-client"), role="client"))
    session.connect()
    n = em.nodes

    # The request lives as long as the round may: on AMQP the broker itself drops a
    # request still queued for a node when its ttl runs out (silently), and at 50,000
    # emulated nodes a node's turn can come after the default 60 s.
    ttl = max(60, math.ceil(timeout))

    def one_round() -> tuple[float, int]:
        request = session.new_request("rpcutil", "ping", collective=em.collective, ttl=ttl)
        replies = session.expect(request.id)
        started = time.perf_counter()
        session.publish(request)
        got, deadline = 0, time.monotonic() + timeout
        while got < n:  # as the mco commands read them: in batches
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch = replies.take(left)
            if not batch:
                break
            got += len(batch)
        took = time.perf_counter() - started
        session.forget(request.id)
        return took, got

    try:
        return timed_rounds(one_round, n, rounds,
                            CpuMeter([p.pid for p in em.processes], em.url), "framework")
    finally:
        session.close()


# --- raw kombu -------------------------------------------------------------------------


def raw_connection(url: str) -> Any:
    import kombu

    if url.startswith("redis"):
        return kombu.Connection(url, transport_options={"priority_steps": [0]})
    if url.startswith("sqs://"):
        return kombu.Connection(url, transport_options={
            "region": "us-east-1", "is_secure": False, "supports_fanout": True,
            "wait_time_seconds": 0, "polling_interval": SQS_POLL})
    if url.startswith("filesystem://"):
        from mcollective_connector_kombu.fstransport import Transport

        return kombu.Connection(transport=Transport, transport_options={
            "root": url.removeprefix("filesystem://"), "polling_interval": 0.1})
    return kombu.Connection(url)


def raw_exchange(url: str, collective: str) -> Any:
    """Broadcast: a topic exchange, or on SQS (whose topic routing stays inside one
    process) a fanout exchange, that is an SNS topic."""
    from kombu import Exchange

    if url.startswith("sqs://"):
        return Exchange(f"{collective}.agent.rpcutil", type="fanout", durable=False)
    return Exchange(f"{collective}.broadcast", type="topic", durable=False)


def raw_no_ack(url: str) -> bool:
    """Consume without acknowledgements, except on SQS: stock kombu deletes a no-ack
    SQS message through its asynchronous client, which needs an event loop that a
    plain drain_events consumer lacks (the connector batches those deletes itself);
    an acknowledged message is deleted synchronously, one call each."""
    return not url.startswith("sqs://")


def raw_server(url: str, collective: str, identities: list[str], ready: Any) -> None:
    from kombu import Consumer, Producer, Queue

    exchange = raw_exchange(url, collective)
    consume, publish = raw_connection(url), raw_connection(url)
    channel = consume.channel()
    producer = Producer(publish.channel())
    queues = [Queue(f"{collective}.node.{i}", exchange, routing_key="agent.rpcutil",
                    durable=False, auto_delete=True) for i in identities]
    pending: list[str] = []
    no_ack = raw_no_ack(url)

    def on_message(message: Any) -> None:
        pending.append(message.properties["reply_to"])
        if not no_ack:
            message.ack()

    with Consumer(channel, queues=queues, no_ack=no_ack, on_message=on_message):
        ready.set()
        while True:
            try:
                consume.drain_events(timeout=1)
            except TimeoutError:
                pass
            # Publish after the drain returns, on another connection (pitfall 1).
            while pending:
                producer.publish(REPLY_BODY, exchange="", routing_key=pending.pop(),
                                 retry=False)


def raw_nats_server(url: str, collective: str, identities: list[str], ready: Any) -> None:
    import asyncio

    import nats

    async def serve() -> None:
        nc = await nats.connect(url)

        async def on_message(msg: Any) -> None:
            await nc.publish(msg.reply, REPLY_BODY)

        for _ in identities:
            await nc.subscribe(f"{collective}.broadcast.agent.rpcutil", cb=on_message)
        await nc.flush()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(serve())


def raw_nats_rounds(url: str, nodes: int, procs: int, rounds: int, timeout: float
                    ) -> dict[str, Any]:
    """The raw baseline on NATS (see the module docstring)."""
    import asyncio

    import nats

    collective = f"raw{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    workers = []
    for ids in [list(range(nodes))[i::procs] for i in range(procs)]:
        ready = ctx.Event()
        proc = ctx.Process(target=raw_nats_server,
                           args=(url, collective, [str(i) for i in ids], ready), daemon=True)
        proc.start()
        workers.append((proc, ready))
    for _, ready in workers:
        ready.wait(300)
    loop = asyncio.new_event_loop()
    nc = loop.run_until_complete(nats.connect(url))
    reply = f"{collective}.reply.{uuid.uuid4().hex[:8]}"
    count = [0]
    done: list[asyncio.Event] = []

    async def on_reply(msg: Any) -> None:
        count[0] += 1
        if count[0] >= nodes and done:
            done[0].set()

    loop.run_until_complete(nc.subscribe(reply, cb=on_reply))

    async def round_trip() -> tuple[float, int]:
        count[0] = 0
        done[:] = [asyncio.Event()]
        started = time.perf_counter()
        await nc.publish(f"{collective}.broadcast.agent.rpcutil", REQUEST_BODY, reply=reply)
        try:
            await asyncio.wait_for(done[0].wait(), timeout)
        except TimeoutError:
            pass
        return time.perf_counter() - started, count[0]

    try:
        return timed_rounds(lambda: loop.run_until_complete(round_trip()), nodes, rounds,
                            CpuMeter([proc.pid for proc, _ in workers if proc.pid], url),
                            "raw")
    finally:
        for proc, _ in workers:
            proc.terminate()
        loop.run_until_complete(nc.close())
        loop.close()


def raw_rounds(url: str, nodes: int, procs: int, rounds: int, timeout: float
               ) -> dict[str, Any]:
    from kombu import Consumer, Producer, Queue

    if url.startswith("nats://"):
        return raw_nats_rounds(url, nodes, procs, rounds, timeout)
    collective = f"raw{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    workers = []
    per = [list(range(nodes))[i::procs] for i in range(procs)]
    for ids in per:
        ready = ctx.Event()
        proc = ctx.Process(target=raw_server, args=(url, collective,
                                                    [str(i) for i in ids], ready),
                           daemon=True)
        proc.start()
        workers.append((proc, ready))
    for _, ready in workers:
        ready.wait(300)
    conn = raw_connection(url)
    channel = conn.channel()
    reply = f"{collective}.reply.{uuid.uuid4().hex[:8]}"
    queue = Queue(reply, durable=False, exclusive=not url.startswith("filesystem"),
                  auto_delete=True)
    exchange = raw_exchange(url, collective)
    producer = Producer(conn.channel())
    count = [0]
    no_ack = raw_no_ack(url)

    def on_reply(message: Any) -> None:
        count[0] += 1
        if not no_ack:
            message.ack()

    try:
        with Consumer(channel, queues=[queue], no_ack=no_ack, on_message=on_reply):
            def one_round() -> tuple[float, int]:
                count[0] = 0
                started = time.perf_counter()
                producer.publish(REQUEST_BODY, exchange=exchange, routing_key="agent.rpcutil",
                                 reply_to=reply, declare=[exchange], retry=False)
                deadline = time.monotonic() + timeout
                while count[0] < nodes and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.1)
                    except TimeoutError:
                        pass
                return time.perf_counter() - started, count[0]

            return timed_rounds(
                one_round, nodes, rounds,
                CpuMeter([proc.pid for proc, _ in workers if proc.pid], url), "raw")
    finally:
        for proc, _ in workers:
            proc.terminate()
        conn.release()


# --- one-off measurements -------------------------------------------------------------------


def cli_wall_time(root: Path, url: str, runs: int = 5) -> float:
    collective = f"cli{uuid.uuid4().hex[:8]}"
    em = Emulators(root / "cli", url, collective, 100, 2)
    (root / "cli").mkdir(exist_ok=True)
    em.start()
    try:
        cfg = em.config("cli-client")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            proc = subprocess.run([bin_script("mco"), "rpc", "-c", str(cfg), "rpcutil",
                                   "ping",
                                   "--json-format", "mcollective"], capture_output=True, text=True,
                                  check=False)
            times.append(time.perf_counter() - started)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr)
        return statistics.median(times)
    finally:
        em.stop()


def client_ingestion(replies: int = 20000) -> float:
    """Replies/s a client session verifies and routes, on memory://."""
    from mcollective.client.session import ClientSession
    from mcollective.config import config_from_text
    from mcollective.message import Reply
    from mcollective.security import encode_reply

    config = config_from_text(f"identity = ingest\nconnector = kombu\nplugin.kombu.url = "
                              f"memory://\nsecurityprovider = psk\nplugin.psk = {PSK}\n")
    session = ClientSession(config)
    session.connect()
    try:
        request = session.new_request("rpcutil", "ping")
        queue = session.expect(request.id)
        bodies = [encode_reply(Reply(request=request.id, sender=f"n{i}", agent="rpcutil",
                                     statuscode=0, statusmsg="OK",
                                     data={"pong": 1700000000 + i}), session.security)
                  for i in range(replies)]
        assert session.connector is not None and session.reply_to is not None
        started = time.perf_counter()
        for body in bodies:
            session.connector.publish_reply(body, session.reply_to, ttl=60)
        got = 0
        while got < replies:
            batch = queue.take(60)
            if not batch:
                raise RuntimeError("replies stopped coming")
            got += len(batch)
        return replies / (time.perf_counter() - started)
    finally:
        session.close()


def calibration(rounds: int = 5) -> float:
    """Milliseconds of a fixed piece of pure-Python work (the kind a reply costs:
    dict building, hashing, bytes), best of ``rounds``. Printed at the start and end
    of a run: a figure measured while this is twice its quiet-machine value was taken
    on a machine half as fast for us, whatever the load average says."""
    import hashlib
    import json as _json

    best = math.inf
    for _ in range(rounds):
        began = time.perf_counter()
        for i in range(20000):
            body = _json.dumps({"sender": f"n{i}", "data": {"pong": i}}).encode()
            hashlib.sha256(body).digest()
        best = min(best, time.perf_counter() - began)
    return best * 1000


def machine_state(label: str) -> str:
    """What makes two runs comparable: the load averages and the calibration loop."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"# {label}: load average {load} on {os.cpu_count()} cores; calibration "
            f"{calibration():.1f} ms (pure-Python reference work, best of 5)")


def print_ingestion(runs: int = 10) -> None:
    """Client ingestion, ``runs`` times (the target is about the median)."""
    rates = [client_ingestion() for _ in range(runs)]
    print(f"client reply ingestion on memory://: median {statistics.median(rates):.0f} "
          f"replies/s over {len(rates)} runs (min {min(rates):.0f}, max "
          f"{max(rates):.0f})", flush=True)


# --- main -------------------------------------------------------------------------------


def transport_url(transport: str, root: Path) -> str:
    if transport == "sqs":
        return os.environ.get("MCO_TEST_SQS_URL") or moto_url()
    return URLS.get(transport) or f"filesystem://{root / 'fsbroker'}"


@functools.cache
def moto_url() -> str:
    """A moto server (SQS and SNS) for this run, stopped when the run ends."""
    import atexit

    from mcollective.testing.brokers import MotoServer

    server = MotoServer()
    url = server.start()
    atexit.register(server.stop)
    return url



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transports", default="amqp,redis,filesystem")
    parser.add_argument("--nodes", default="10,100,1000")
    parser.add_argument("--procs", type=int, default=4, help="emulator/raw processes")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30.0, help="per round")
    parser.add_argument("--no-raw", action="store_true")
    parser.add_argument("--ingestion-runs", type=int, default=10,
                        help="client ingestion measurements (median printed)")
    parser.add_argument("--ingestion-only", action="store_true",
                        help="only the client reply ingestion on memory:// (no broker)")
    parser.add_argument("--no-extras", action="store_true",
                        help="skip the CLI wall time and client ingestion")
    args = parser.parse_args()
    if args.ingestion_only:
        print(machine_state("start"), flush=True)
        print_ingestion(args.ingestion_runs)
        print(machine_state("end"), flush=True)
        return
    root = Path(tempfile.mkdtemp(prefix="mco-scale-"))
    rows = []
    print(machine_state("start"), flush=True)
    print(f"{'transport':10} {'N':>6} {'fw median':>10} {'fw p90':>9} {'replies/s':>10} "
          f"{'lost':>5} {'raw median':>10} {'raw p90':>9} {'ratio':>6} "
          f"{'RSS/proc MB':>12} {'KB/node':>8}  CPU ms/round servers/client/broker: "
          f"framework | raw", flush=True)
    for transport in args.transports.split(","):
        url = transport_url(transport, root)
        if transport == "memory":
            raise SystemExit("memory:// is one process: see the client ingestion figure")
        base_em = Emulators(root / f"{transport}-base", url, f"b{uuid.uuid4().hex[:8]}",
                            1, 1)
        (root / f"{transport}-base").mkdir()
        base_em.start()
        time.sleep(1.0)
        base_rss = base_em.rss_mb()[0]
        base_em.stop()
        for n in [int(x) for x in args.nodes.split(",")]:
            work = root / f"{transport}-{n}"
            work.mkdir()
            em = Emulators(work, url, f"s{uuid.uuid4().hex[:8]}", n, args.procs)
            started = time.perf_counter()
            em.start()
            startup = time.perf_counter() - started
            try:
                fw = framework_rounds(em, args.rounds, args.timeout)
                rss = em.rss_mb()
            finally:
                em.stop()
            raw = None if args.no_raw else raw_rounds(url, n, min(args.procs, n),
                                                      args.rounds, args.timeout)
            per_proc = statistics.mean(rss)
            per_node_kb = max(0.0, (per_proc - base_rss) * 1024 / (n / len(rss)))
            ratio = f"{fw['median'] / raw['median']:.2f}" if raw else "-"
            raw_m = f"{raw['median'] * 1000:.1f}" if raw else "-"
            raw_p = f"{raw['p90'] * 1000:.1f}" if raw else "-"
            print(f"{transport:10} {n:>6} {fw['median'] * 1000:>10.1f} "
                  f"{fw['p90'] * 1000:>9.1f} {n / fw['median']:>10.0f} {fw['lost']:>5} "
                  f"{raw_m:>10} {raw_p:>9} {ratio:>6} {per_proc:>12.1f} "
                  f"{per_node_kb:>8.1f}  {cpu_text(fw['cpu'])} | "
                  f"{cpu_text(raw['cpu'] if raw else None)}   (startup {startup:.1f}s, "
                  f"base RSS {base_rss:.1f} MB, load "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
            rows.append((transport, n, fw, raw))
    if not args.no_extras:
        first = args.transports.split(",")[0]
        url = transport_url(first, root)
        print(f"mco rpc rpcutil ping, 100 emulated nodes on {first}: "
              f"{cli_wall_time(root, url):.2f}s wall (median of 5)", flush=True)
        print_ingestion(args.ingestion_runs)
    print(machine_state("end"), flush=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
