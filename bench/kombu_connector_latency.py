"""Round-trip latency on one machine: our filesystem transport vs kombu's stock one.

A client broadcasts a request to N nodes (spread over a few node processes) and waits
for all N replies; the time from publish to the last reply is one round. The same
scenario runs three times in this one run, so only the ratios are meaningful:

* ``ours``: the mcollective kombu connector on its embedded filesystem broker
  (``plugin.kombu.url = filesystem://...``, default settings);
* ``stock@1.0``: raw kombu ``filesystem://`` with its default ``polling_interval``;
* ``stock@0.01``: the same, tuned to poll as often as ours re-checks by default.

Node processes reply on a second connection (never on the consuming one), as the
connector does. A round that does not complete within the timeout counts as lost: the
stock transport loses messages to torn reads.

Usage: ``python bench/kombu_connector_latency.py [--nodes 10] [--procs 2] [--rounds 20]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

COLLECTIVE = "bench"
AGENT = "echo"


# --- node processes -------------------------------------------------------------------


def ours_node(root: str, identities: list[str], ready: Any) -> None:
    from mcollective.config import config_from_text
    from mcollective_connector_kombu.connector import KombuConnector
    from mcollective_connector_kombu.options import load_options

    config = config_from_text(f"identity = {identities[0]}\n"
                              f"plugin.kombu.url = filesystem://{root}\n")
    connector = KombuConnector(load_options("kombu", config))
    connector.connect(timeout=10)
    for identity in identities:
        connector.subscribe_node(identity, [COLLECTIVE], [AGENT])

    def serve(body: bytes, identity: str | None) -> None:
        reply_to, _, token = body.partition(b"|")
        connector.publish_reply(f"{identity}|".encode() + token, reply_to.decode(), ttl=60)

    connector.start(serve)
    ready.set()
    time.sleep(3600)


def stock_connection(root: str, polling: float) -> Any:
    import kombu

    folder = os.path.join(root, "data")
    control = os.path.join(root, "control")
    os.makedirs(folder, exist_ok=True)
    os.makedirs(control, exist_ok=True)
    return kombu.Connection("filesystem://", transport_options={
        "data_folder_in": folder, "data_folder_out": folder,
        "control_folder": control, "polling_interval": polling})


def stock_node(root: str, identities: list[str], ready: Any, polling: float) -> None:
    from kombu import Consumer, Exchange, Producer, Queue

    exchange = Exchange(f"{COLLECTIVE}.broadcast", type="topic", durable=False)
    consume = stock_connection(root, polling)
    publish = stock_connection(root, polling)
    channel = consume.channel()
    producer = Producer(publish.channel())

    def make_handler(identity: str) -> Callable[[Any], None]:
        def handle(message: Any) -> None:
            reply_to, _, token = message.body.partition(b"|")
            producer.publish(f"{identity}|".encode() + token, routing_key=reply_to.decode(),
                             content_type="application/octet-stream",
                             content_encoding="binary")
        return handle

    for identity in identities:
        queue = Queue(f"{COLLECTIVE}.node.{identity}", exchange=exchange,
                      routing_key=f"agent.{AGENT}", durable=False, auto_delete=True)
        queue(channel).declare()
        Consumer(channel, [queue], no_ack=True, on_message=make_handler(identity)).consume()
    ready.set()
    while True:
        try:
            consume.drain_events(timeout=1)
        except TimeoutError:
            pass
        except Exception as exc:  # torn reads: JSONDecodeError and friends
            print(f"stock node {identities[0]}: {type(exc).__name__}: {exc}", file=sys.stderr)


# --- clients -----------------------------------------------------------------------


class Replies:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.tokens: list[bytes] = []

    def add(self, body: bytes) -> None:
        with self.cond:
            self.tokens.append(body.partition(b"|")[2])
            self.cond.notify_all()

    def wait(self, token: bytes, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.tokens.count(token) >= n, timeout)


def run_rounds(publish: Callable[[bytes], None], replies: Replies, n: int, rounds: int,
               timeout: float) -> tuple[list[float], int]:
    # Warm up until one full round completes (nodes bound, caches warm).
    for attempt in range(5):
        token = f"warm{attempt}".encode()
        publish(token)
        if replies.wait(token, n, min(timeout, 5.0)):
            break
    else:
        raise RuntimeError("no warm-up round completed (messages lost?)")
    times, lost = [], 0
    for i in range(rounds):
        token = f"r{i}".encode()
        start = time.perf_counter()
        publish(token)
        if replies.wait(token, n, timeout):
            times.append(time.perf_counter() - start)
        else:
            lost += 1
    return times, lost


def bench_ours(root: str, n: int, rounds: int, timeout: float) -> tuple[list[float], int]:
    from mcollective.config import config_from_text
    from mcollective_connector_kombu.connector import KombuConnector
    from mcollective_connector_kombu.options import load_options

    config = config_from_text(f"identity = client\nplugin.kombu.url = filesystem://{root}\n")
    client = KombuConnector(load_options("kombu", config))
    client.connect(timeout=10)
    reply_to = client.subscribe_replies()
    replies = Replies()
    client.start(lambda body, identity: replies.add(body))

    def publish(token: bytes) -> None:
        client.publish_request(reply_to.encode() + b"|" + token, collective=COLLECTIVE,
                               agent=AGENT, ttl=60)

    try:
        return run_rounds(publish, replies, n, rounds, timeout)
    finally:
        client.close()


def bench_stock(root: str, n: int, rounds: int, timeout: float, polling: float
                ) -> tuple[list[float], int]:
    from kombu import Consumer, Exchange, Producer, Queue

    exchange = Exchange(f"{COLLECTIVE}.broadcast", type="topic", durable=False)
    reply_queue = f"{COLLECTIVE}.reply.client.{os.getpid()}"
    consume = stock_connection(root, polling)
    publish_conn = stock_connection(root, polling)
    channel = consume.channel()
    queue = Queue(reply_queue, durable=False, auto_delete=True)
    queue(channel).declare()
    replies = Replies()
    Consumer(channel, [queue], no_ack=True,
             on_message=lambda message: replies.add(message.body)).consume()
    producer = Producer(publish_conn.channel())
    exchange(producer.channel).declare()  # virtual transports route by local type
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                consume.drain_events(timeout=0.1)
            except TimeoutError:
                pass
            except Exception as exc:
                print(f"stock client: {type(exc).__name__}: {exc}", file=sys.stderr)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()

    def publish(token: bytes) -> None:
        producer.publish(reply_queue.encode() + b"|" + token, exchange=exchange.name,
                         routing_key=f"agent.{AGENT}",
                         content_type="application/octet-stream", content_encoding="binary")

    try:
        return run_rounds(publish, replies, n, rounds, timeout)
    finally:
        stop.set()
        thread.join()


# --- driver ------------------------------------------------------------------------


def start_nodes(target: Callable[..., None], root: str, n: int, procs: int,
                *extra: Any) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    identities = [f"node{i:03d}" for i in range(n)]
    groups = [identities[i::procs] for i in range(procs)]
    processes, events = [], []
    for group in groups:
        ready = ctx.Event()
        process = ctx.Process(target=target, args=(root, group, ready, *extra), daemon=True)
        process.start()
        processes.append(process)
        events.append(ready)
    for ready in events:
        if not ready.wait(60):
            raise SystemExit("a node process did not start")
    return processes


def stop_nodes(processes: list[Any]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def summary(name: str, times: list[float], lost: int, rounds: int) -> float:
    if not times:
        print(f"{name:12s} no round completed ({lost} lost)")
        return float("nan")
    ordered = sorted(times)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    print(f"{name:12s} median {median * 1000:8.2f} ms   p90 {p90 * 1000:8.2f} ms   "
          f"rounds {len(times)}/{rounds}   lost {lost}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--procs", type=int, default=2, help="node processes")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--stock-default-rounds", type=int, default=5,
                        help="rounds for stock@1.0 (about 1-2 s each)")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    n = args.nodes
    print(f"broadcast round trip to {n} nodes in {args.procs} processes, "
          f"{os.cpu_count()} CPUs")

    variants: list[tuple[str, Callable[..., None], tuple[Any, ...], Callable[..., Any], int]] = [
        ("ours", ours_node, (), lambda root, rounds: bench_ours(
            root, n, rounds, args.timeout), args.rounds),
    ]
    for polling, rounds in ((1.0, args.stock_default_rounds), (0.01, args.rounds)):
        variants.append((f"stock@{polling:g}", stock_node, (polling,),
                         lambda root, rounds, p=polling: bench_stock(
                             root, n, rounds, args.timeout, p), rounds))

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, node_main, extra, client, rounds in variants:
            root = os.path.join(tmp, name)
            nodes = start_nodes(node_main, root, n, args.procs, *extra)
            try:
                times, lost = client(root, rounds)
            except RuntimeError as exc:
                print(f"{name:12s} failed: {exc}")
                continue
            finally:
                stop_nodes(nodes)
            results[name] = summary(name, times, lost, rounds)

    for name in ("stock@1", "stock@0.01"):
        if name in results and "ours" in results:
            print(f"ratio {name} / ours: {results[name] / results['ours']:.1f}x")


if __name__ == "__main__":
    main()
