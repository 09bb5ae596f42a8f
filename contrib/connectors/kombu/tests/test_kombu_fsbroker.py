"""The filesystem broker on its own: atomicity, order, exclusive claims, routing,
and cleanup after processes that died — with real concurrent processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from collections import Counter
from pathlib import Path

import kombu_fs_workers as workers
import pytest

from mcollective_connector_kombu import fsbroker
from mcollective_connector_kombu.fsbroker import (
    FsBroker,
    FsBrokerError,
    decode_name,
    encode_name,
)

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def broker(tmp_path: Path) -> FsBroker:
    b = FsBroker(tmp_path / "broker")
    b.ensure_layout()
    return b


def topic_match(binding: str, key: str) -> bool:
    from kombu.transport.virtual.exchange import TopicExchange

    ex = TopicExchange(None)
    return bool(ex._match(ex.key_to_pattern(binding), key))


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "agent.*", "#", "c.node.n1",
                                  "%", "x+y", "sp ace", "ünï", ".hidden"])
def test_names_encode_to_single_safe_file_names(name: str) -> None:
    encoded = encode_name(name)
    assert "/" not in encoded and encoded not in ("", ".", "..")
    assert not encoded.startswith(".") and "+" not in encoded
    assert decode_name(encoded) == name


def test_messages_come_out_in_publish_order(broker: FsBroker) -> None:
    broker.declare_queue("q")
    for i in range(500):
        assert broker.put("q", str(i).encode())
    assert broker.size("q") == 500
    assert [int(broker.claim("q") or b"-1") for _ in range(500)] == list(range(500))
    assert broker.claim("q") is None


def test_publishing_to_a_missing_queue_drops_and_does_not_create_it(broker: FsBroker) -> None:
    assert not broker.put("nowhere", b"x")
    assert not broker.has_queue("nowhere")
    broker.declare_queue("q")
    broker.delete_queue("q")
    assert not broker.put("q", b"x")
    assert not broker.has_queue("q")
    assert broker.stats["dropped"] == 2


def test_readers_never_see_partial_messages(broker: FsBroker) -> None:
    """Big messages written while a reader polls as fast as it can: every message read
    is complete (the stock transport handed out empty files here)."""
    broker.declare_queue("q")
    reader = FsBroker(broker.root)
    got: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        while not (done.is_set() and reader.size("q") == 0):
            data = reader.claim("q")
            if data is not None:
                got.append(data)

    thread = threading.Thread(target=read)
    thread.start()
    payloads = [json.dumps({"i": i, "pad": "y" * 200_000}).encode() for i in range(40)]
    for payload in payloads:
        broker.put("q", payload)
    done.set()
    thread.join(timeout=30)
    assert got == payloads


def test_two_readers_never_get_the_same_message(broker: FsBroker) -> None:
    broker.declare_queue("q")
    for i in range(2000):
        broker.put("q", str(i).encode())
    results: list[list[int]] = [[], []]

    def read(slot: int) -> None:
        reader = FsBroker(broker.root)
        while (data := reader.claim("q")) is not None:
            results[slot].append(int(data))

    threads = [threading.Thread(target=read, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results[0] + results[1]) == list(range(2000))
    for got in results:  # each reader sees its share in order
        assert got == sorted(got)


def test_concurrent_processes_lose_and_duplicate_nothing(broker: FsBroker) -> None:
    """3 writer processes x 400 messages, 2 reader processes claiming concurrently."""
    broker.declare_queue("q")
    results = SPAWN.Queue()
    done = SPAWN.Event()
    readers = [SPAWN.Process(target=workers.read_messages,
                             args=(broker.root, "q", results, done)) for _ in range(2)]
    writers = [SPAWN.Process(target=workers.write_messages,
                             args=(broker.root, "q", w, 400, 500)) for w in range(3)]
    for process in readers + writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0
    done.set()
    got = [results.get(timeout=60) for _ in readers]
    for process in readers:
        process.join(timeout=60)
    everything = [m for _, messages in got for m in messages]
    counts = Counter(everything)
    assert len(counts) == 1200, "messages lost"
    assert max(counts.values()) == 1, "messages delivered twice"
    for _, messages in got:  # per writer, each reader's share is in publish order
        for w in range(3):
            seq = [i for wr, i in messages if wr == w]
            assert seq == sorted(seq)
    assert broker.size("q") == 0


def test_routing_by_exchange_type(broker: FsBroker) -> None:
    for q in ("q1", "q2", "q3"):
        broker.declare_queue(q)
    broker.declare_exchange("c.broadcast", "topic")
    broker.bind("c.broadcast", "agent.rpcutil", "q1")
    broker.bind("c.broadcast", "agent.rpcutil", "q2")
    broker.bind("c.broadcast", "agent.package", "q2")
    broker.bind("c.broadcast", "agent.*", "q3")
    broker.declare_exchange("c.directed", "direct")
    broker.bind("c.directed", "n1", "q1")
    broker.bind("c.directed", "n2", "q2")

    assert broker.lookup("c.broadcast", "agent.rpcutil", "topic", topic_match) == [
        "q1", "q2", "q3"]
    assert broker.lookup("c.broadcast", "agent.package", "topic", topic_match) == ["q2", "q3"]
    assert broker.lookup("c.broadcast", "other.x", "topic", topic_match) == []
    assert broker.lookup("c.directed", "n2", "direct", topic_match) == ["q2"]
    assert broker.lookup("c.directed", "n9", "direct", topic_match) == []
    assert broker.lookup("c.directed", "", "fanout", topic_match) == ["q1", "q2"]

    broker.unbind("c.broadcast", "agent.rpcutil", "q2")
    assert broker.lookup("c.broadcast", "agent.rpcutil", "topic", topic_match) == [
        "q1", "q3"]
    broker.delete_queue("q1")
    assert broker.lookup("c.broadcast", "agent.rpcutil", "topic", topic_match) == ["q3"]
    assert broker.lookup("c.directed", "n1", "direct", topic_match) == []
    assert broker.exchange_type("c.broadcast") == "topic"
    with pytest.raises(FsBrokerError, match="PRECONDITION_FAILED"):
        broker.declare_exchange("c.broadcast", "direct")
    with pytest.raises(FsBrokerError, match="NOT_FOUND"):
        broker.bind("c.broadcast", "agent.x", "missing")


def test_auto_delete_queue_lives_while_any_owner_lives(broker: FsBroker) -> None:
    s1, s2 = broker.open_session(), broker.open_session()
    try:
        broker.declare_queue("shared", owner=s1.token)
        broker.declare_queue("shared", owner=s2.token)
        s1.owned.add("shared")
        s2.owned.add("shared")
        broker.close_session(s1)
        assert broker.has_queue("shared")
        assert broker.sweep() == 0
        assert broker.has_queue("shared")
    finally:
        broker.close_session(s2)
    assert not broker.has_queue("shared")


def test_exclusive_queue_refuses_a_second_live_owner(broker: FsBroker) -> None:
    s1, s2 = broker.open_session(), broker.open_session()
    try:
        broker.declare_queue("mine", owner=s1.token, exclusive=True)
        with pytest.raises(FsBrokerError, match="RESOURCE_LOCKED"):
            broker.declare_queue("mine", owner=s2.token, exclusive=True)
        broker.declare_queue("mine", owner=s1.token, exclusive=True)  # redeclare: fine
    finally:
        broker.close_session(s1)
        broker.close_session(s2)


def test_janitor_removes_queues_of_a_killed_process(broker: FsBroker) -> None:
    ready = SPAWN.Event()
    child = SPAWN.Process(target=workers.hold_queue, args=(
        broker.root, "c.node.dead", [("c.broadcast", "topic", "agent.rpcutil"),
                                     ("c.directed", "direct", "dead")], ready))
    child.start()
    try:
        assert ready.wait(30)
        # Alive: the janitor keeps it, and it receives.
        assert broker.sweep() == 0
        assert broker.lookup("c.broadcast", "agent.rpcutil", "topic", topic_match) == [
            "c.node.dead"]
        assert broker.put("c.node.dead", b"while alive")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
    assert broker.has_queue("c.node.dead")  # nothing has noticed yet

    assert broker.sweep() == 1

    assert not broker.has_queue("c.node.dead")
    assert broker.lookup("c.broadcast", "agent.rpcutil", "topic", topic_match) == []
    assert broker.lookup("c.directed", "dead", "direct", topic_match) == []
    assert not broker.put("c.node.dead", b"after death")  # dropped, not piled up
    assert not broker.has_queue("c.node.dead")
    assert os.listdir(broker.sessions_dir) == []
    assert os.listdir(broker.trash_dir) == []
    assert broker.sweep() == 0


def test_janitor_runs_once_per_interval_across_processes(broker: FsBroker) -> None:
    session = broker.open_session()
    broker.declare_queue("q", owner=session.token)
    session.abandon()  # as if the process had died: the lock is released
    fsbroker._own_sessions.pop(session.token)
    assert broker.sweep(min_interval=3600) == 1  # never swept before: sweeps
    broker.declare_queue("q2", owner=session.token)
    assert FsBroker(broker.root).sweep(min_interval=3600) == 0  # swept just now
    assert FsBroker(broker.root).sweep() == 1


def test_janitor_removes_stale_temporary_files(broker: FsBroker) -> None:
    broker.declare_queue("q")
    qdir = Path(broker.queue_dir("q"))
    (qdir / ".123-1.msg.tmp").write_bytes(b"half")
    (qdir / ".123-1.msg.r.claim").write_bytes(b"taken")
    broker.put("q", b"real")
    broker.sweep(stale_after=-1)
    assert sorted(p.name for p in qdir.iterdir() if p.name.startswith(".") and
                  p.name not in (".bindings",)) == []
    assert broker.claim("q") == b"real"


def test_publishers_ring_the_consumers_doorbell(broker: FsBroker) -> None:
    session = broker.open_session()
    try:
        broker.declare_queue("q", owner=session.token)
        session.owned.add("q")
        broker.set_bell("q", session)
        broker.put("q", b"1")
        broker.put("q", b"2")
        assert session.read_bell() == b"q\nq\n"
        broker.clear_bell("q", session)
        broker.put("q", b"3")
        assert session.read_bell() == b""
        assert broker.size("q") == 3
    finally:
        broker.close_session(session)
