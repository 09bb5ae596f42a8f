"""Client behaviour against real daemons: --batch, --limit-nodes/--limit-seed, -1,
--nr, --reply-to and the no-response list, through the real mco and the Python API on
the embedded default transport."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet import ok, rpc_json

from mcollective.client import RPCClient
from mcollective.config import load_config
from mcollective.plugins import make_plugin_manager
from mcollective.security import decode_reply
from mcollective.testing import LocalCollective

NODES = [f"node{i}.example.net" for i in range(1, 7)]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCollective]:
    collective = LocalCollective(tmp_path_factory.mktemp("client"))
    try:
        for index, identity in enumerate(NODES, 1):
            collective.add_node(identity, facts={"index": index,
                                                 "parity": "odd" if index % 2 else "even"},
                                wait=False)
        for node in collective.nodes.values():
            collective.wait_ready(node)
        yield collective
    finally:
        collective.stop_all()


def senders(replies: list[dict[str, Any]]) -> list[str]:
    return sorted(r["sender"] for r in replies)


def test_batches_through_mco(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "ping", "--batch", "2", "--batch-sleep", "1", "-v"))
    assert "Nodes: 6 / 6" in proc.stdout and "Pass / Fail: 6 / 0" in proc.stdout
    agent_ms = float(proc.stdout.split("Agent Time:")[1].split("ms")[0])
    assert agent_ms >= 2000  # two sleeps of one second between three batches


def test_batches_wait_for_each_other(fleet: LocalCollective) -> None:
    """Three batches of two, each published only after the previous one answered."""
    config = load_config(fleet.client_config)
    with RPCClient("rpcutil", config=config, batch_size=2, batch_sleep_time=0.2) as client:
        events: list[tuple[str, Any]] = []
        publish = client.session.publish

        def spy(request: Any, *, targets: Any = None) -> float:
            if request.agent == "rpcutil":
                events.append(("publish", (request.id, tuple(targets or ()))))
            return publish(request, targets=targets)

        client.session.publish = spy
        for result in client.stream("ping"):
            events.append(("reply", result.sender))
    assert [kind for kind, _ in events] == ["publish", "reply", "reply"] * 3
    published = [value for kind, value in events if kind == "publish"]
    assert len({rid for rid, _ in published}) == 1  # one request id for every batch
    for index, (_, targets) in enumerate(published):
        replies = {value for _, value in events[3 * index + 1:3 * index + 3]}
        assert len(targets) == 2 and replies == set(targets)
    assert sorted(t for _, ts in published for t in ts) == NODES
    assert client.stats.batches == 3 and client.stats.responses == 6


def test_limit_nodes_with_a_seed_picks_the_same_nodes(fleet: LocalCollective) -> None:
    args = ("rpcutil", "ping", "--limit-nodes", "50%", "--limit-seed", "7")
    first, second = (senders(rpc_json(fleet, *args)) for _ in range(2))
    assert len(first) == 3 and first == second
    other_seeds = {tuple(senders(rpc_json(fleet, "rpcutil", "ping", "--ln", "50%",
                                          "--limit-seed", str(seed)))) for seed in (1, 2, 3)}
    assert other_seeds | {tuple(first)} != {tuple(first)}  # the seed decides
    assert len(rpc_json(fleet, "rpcutil", "ping", "-1")) == 1
    assert len(rpc_json(fleet, "rpcutil", "ping", "--limit", "2", "-F", "parity=odd")) == 2


def test_fire_and_forget(fleet: LocalCollective) -> None:
    def counters() -> dict[str, tuple[int, int]]:
        return {r["sender"]: (r["data"]["passed"], r["data"]["replies"])
                for r in rpc_json(fleet, "rpcutil", "daemon_stats", "-F", "parity=even")}

    before = counters()
    proc = ok(fleet.mco("rpc", "rpcutil", "ping", "--nr", "-F", "parity=even"))
    assert proc.stdout.startswith("Request sent with id: ")
    assert len(proc.stdout.split()[-1]) == 32
    deadline = time.monotonic() + 10
    while True:
        after = counters()
        # Per even node: +2 passed (the ping, then the discovery of this stats call,
        # +1 for the stats call itself), replies only for the stats calls.
        if all(after[n][0] - before[n][0] >= 3 for n in before) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for node in before:
        passed, replies = (a - b for a, b in zip(after[node], before[node], strict=True))
        assert passed == 3, node
        assert replies == 2, node  # the discovery and reply of the previous stats call


def test_reply_to_delivers_replies_elsewhere(fleet: LocalCollective) -> None:
    config = load_config(fleet.client_config)
    plugins = make_plugin_manager()
    security = plugins.create_security(config, "client")
    connector = plugins.create_connector(config)
    connector.connect(timeout=10)
    received: list[Any] = []
    done = threading.Event()

    def collect(body: bytes, _identity: Any) -> None:
        received.append(decode_reply(body, security))
        if len(received) >= 2:
            done.set()

    try:
        queue = connector.subscribe_replies()
        connector.start(collect)
        proc = ok(fleet.mco("rpc", "rpcutil", "ping", "--reply-to", queue,
                            "-I", "node1.example.net", "-I", "node2.example.net"))
        request_id = proc.stdout.split()[4]
        assert proc.stdout.rstrip().endswith(f"replies to {queue}")
        assert done.wait(15)
    finally:
        connector.close()
    assert sorted(r.sender for r in received) == NODES[:2]
    assert {r.request for r in received} == {request_id}


def test_no_response_list_and_exit_codes(fleet: LocalCollective, tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("node3.example.net\nghost.example.net\n")
    proc = fleet.mco("rpc", "rpcutil", "ping", "--nodes", str(nodes), "-t", "1")
    assert "Finished processing 1 / 2 hosts" in proc.stdout
    assert "No response from:" in proc.stdout and "ghost.example.net" in proc.stdout
    none = fleet.mco("rpc", "rpcutil", "ping", "-F", "parity=none", "--dt", "0.5")
    assert none.returncode == 1 and "did not discover any nodes" in none.stderr
    silent = fleet.mco("rpc", "rpcutil", "ping", "-I", "ghost.example.net", "-t", "1")
    assert silent.returncode == 3


def test_python_api_options(fleet: LocalCollective) -> None:
    config = load_config(fleet.client_config)
    with RPCClient("rpcutil", config=config, limit="50%", limit_seed=7) as client:
        client.fact_filter("index>=1")
        first = sorted(r.sender for r in client.call("ping"))
        client.reset()
        assert sorted(r.sender for r in client.call("ping")) == first
        assert client.stats.discovered == 3 and client.stats.exit_code() == 0
        client.limit_targets = None
        client.compound_filter("fact('parity').value=odd")
        assert sorted(client.discover()) == NODES[0::2]
    assert json.dumps(client.stats.to_dict())  # serialisable
