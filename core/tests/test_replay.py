"""Replay cache, clock skew and the message size limit, on in-process daemons."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from inprocess import client, collective

from mcollective.client import ClientSession
from mcollective.config import config_from_text
from mcollective.errors import ConfigError
from mcollective.security import encode_request
from mcollective.server.replay import ReplayCache


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def publish_raw(session: ClientSession, body: bytes, identity: str = "n1") -> None:
    """Put bytes straight into a node's queue, as an attacker on the middleware can."""
    session.connect()
    assert session.connector is not None
    session.connector.publish_request(body, collective="mcollective", agent="worker",
                                      ttl=60, targets=[identity])


def test_cache_remembers_until_expiry() -> None:
    cache = ReplayCache(10)
    assert cache.check_and_add("a", expires=100.0, now=50.0)
    assert not cache.check_and_add("a", expires=100.0, now=60.0)
    assert cache.rejected == 1
    assert cache.check_and_add("b", expires=70.0, now=60.0)
    assert len(cache) == 2
    # Once a window closed the id is forgotten (the TTL check refuses it anyway).
    assert cache.check_and_add("c", expires=200.0, now=101.0)
    assert len(cache) == 1
    assert cache.check_and_add("a", expires=300.0, now=101.0)


def test_full_cache_refuses_new_ids_and_never_forgets_live_ones() -> None:
    """Filling the cache must not flush it: a new id is refused (None), and every id
    already remembered stays remembered until its window closes."""
    cache = ReplayCache(3)
    for key, expires in (("late", 90.0), ("soon", 20.0), ("mid", 50.0)):
        assert cache.check_and_add(key, expires, now=0.0)
    assert cache.check_and_add("new", 60.0, now=0.0) is None
    assert len(cache) == 3 and cache.refused_full == 1
    assert cache.check_and_add("soon", 20.0, now=0.0) is False  # still remembered
    assert cache.check_and_add("late", 90.0, now=0.0) is False
    # Once a window closes there is room again.
    assert cache.check_and_add("new", 60.0, now=21.0) is True
    assert cache.describe() == {"size": 3, "capacity": 3, "per_caller": 3, "callers": 1,
                                "refused_full": 1}


def test_one_caller_cannot_fill_anyone_elses_share() -> None:
    cache = ReplayCache(10, per_caller=3)
    for i in range(3):
        assert cache.check_and_add(f"m{i}", 1e9, now=0.0, caller="user=mallory")
    assert cache.check_and_add("m3", 1e9, now=0.0, caller="user=mallory") is None
    assert cache.check_and_add("a0", 1e9, now=0.0, caller="user=admin") is True
    assert cache.check_and_add("m0", 1e9, now=0.0, caller="user=admin") is False


def test_bounds_apply_per_identity() -> None:
    """An emulator answers for many identities from one cache: each gets the room (and
    each caller its share) that a single node has."""
    cache = ReplayCache(2, per_caller=1)
    assert cache.check_and_add(("n1", "a"), 1e9, now=0.0, caller="user=x")
    assert cache.check_and_add(("n2", "a"), 1e9, now=0.0, caller="user=x")
    assert cache.check_and_add(("n1", "b"), 1e9, now=0.0, caller="user=x") is None
    assert cache.check_and_add(("n1", "b"), 1e9, now=0.0, caller="user=y")
    assert cache.check_and_add(("n1", "c"), 1e9, now=0.0, caller="user=z") is None  # full
    assert cache.check_and_add(("n1", "c"), 1e9, now=1e9 + 1, caller="user=z")  # expired


def test_cache_survives_a_clean_restart_but_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "replay-cache.json"
    cache = ReplayCache(10)
    assert cache.load(path, now=0.0)  # no previous run: nothing lost
    cache.mark_running(path)
    cache.check_and_add(("n1", "id1"), 100.0, now=0.0, caller="user=a")
    cache.check_and_add(("n1", "old"), 5.0, now=0.0, caller="user=a")
    # A crash leaves the marker: the next start knows the ids are lost.
    assert not ReplayCache(10).load(path, now=1.0)
    cache.save(path, now=10.0)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = ReplayCache(10)
    assert again.load(path, now=20.0)
    assert again.check_and_add(("n1", "id1"), 100.0, now=20.0) is False
    assert again.check_and_add(("n1", "old"), 5.0, now=20.0) is True  # expired: not kept
    path.write_text("{not json", encoding="utf-8")
    assert not ReplayCache(10).load(path, now=0.0)


def test_journal_keeps_journalled_ids_across_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "replay.json"
    cache = ReplayCache(10)
    assert cache.load(path, now=0.0)
    cache.mark_running(path)
    assert cache.check_and_add(("n1", "ahead"), 100.0, now=1.0, caller="a", journal=True)
    assert cache.check_and_add(("n1", "in-step"), 100.0, now=1.0, caller="a")
    journal = path.with_name(path.name + ".journal")
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write('[["n1", "torn"], 100.0')  # the crash cut the last line short
    # The process dies here (no save): the next start remembers what was journalled.
    again = ReplayCache(10)
    assert not again.load(path, now=2.0)  # still a crash: earlier requests refused
    assert again.check_and_add(("n1", "ahead"), 100.0, now=2.0) is False
    assert again.check_and_add(("n1", "in-step"), 100.0, now=2.0) is True
    # Its own journal starts with what it holds, so a second crash loses nothing.
    again.mark_running(path)
    third = ReplayCache(10)
    assert not third.load(path, now=3.0)
    assert third.check_and_add(("n1", "ahead"), 100.0, now=3.0) is False
    # A clean stop needs no journal.
    third.mark_running(path)
    third.save(path, now=4.0)
    assert not journal.exists()
    assert ReplayCache(10).load(path, now=5.0)


def test_cache_zero_capacity_is_off() -> None:
    cache = ReplayCache(0)
    assert cache.check_and_add("a", 10.0, 0.0) and cache.check_and_add("a", 10.0, 0.0)


def test_cache_is_thread_safe() -> None:
    cache = ReplayCache(100_000)
    accepted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = sum(cache.check_and_add(i, 1e12, 0.0) for i in range(2000))
        with lock:
            accepted.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(accepted) == 2000 and cache.rejected == 7 * 2000


def test_config_keys() -> None:
    config = config_from_text("clock_skew = 2.5\nreplay_cache_size = 0\n"
                              "max_message_size = 4096\n")
    assert (config.clock_skew, config.replay_cache_size, config.max_message_size) == (
        2.5, 0, 4096)
    defaults = config_from_text("")
    assert (defaults.clock_skew, defaults.replay_cache_size, defaults.max_message_size) == (
        30.0, 100000, 1048576)
    for bad in ("clock_skew = -1", "max_message_size = 10", "replay_cache_size = many"):
        try:
            config_from_text(bad)
        except ConfigError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_replayed_request_runs_once() -> None:
    with collective("n1") as (daemons, session):
        stats = daemons[0].stats
        request = session.new_request("worker", "echo", {"message": "once"})
        replies = session.expect(request.id)
        body = encode_request(request, session.security)
        publish_raw(session, body)
        publish_raw(session, body)
        publish_raw(session, body)
        wait_for(lambda: stats["replayed"] == 2 and stats["replies"] == 1)
        time.sleep(0.1)
        assert replies.qsize() == 1
        assert stats["passed"] == 1
        assert daemons[0].daemon_stats()["replay_cache"]["size"] == 1
        assert client(session).call("echo", message="fresh")[0].statuscode == 0


def test_replay_cache_is_per_identity() -> None:
    """One daemon answering for several identities acts once for each of them."""
    with collective("n1") as (daemons, session):
        daemon = daemons[0]
        body = encode_request(session.new_request("worker", "echo", {"message": "x"}),
                              session.security)
        daemon.handle_message(body, "n1")
        daemon.handle_message(body, "n1-alias")
        daemon.handle_message(body, "n1")
        assert daemon.stats["passed"] == 2 and daemon.stats["replayed"] == 1


def test_replay_cache_off() -> None:
    with collective("n1", extra="replay_cache_size = 0\n") as (daemons, session):
        body = encode_request(session.new_request("worker", "echo", {"message": "x"}),
                              session.security)
        daemons[0].handle_message(body)
        daemons[0].handle_message(body)
        assert daemons[0].stats["passed"] == 2 and daemons[0].stats["replayed"] == 0


def test_clock_skew_window() -> None:
    with collective("n1", extra="clock_skew = 5\n") as (daemons, session):
        daemon = daemons[0]

        def send(offset: float, ttl: int = 60) -> None:
            request = session.new_request("worker", "echo", {"message": "x"}, ttl=ttl)
            request.time = round(time.time() + offset, 3)
            daemon.handle_message(encode_request(request, session.security))

        send(+3)  # a little in the future: within the skew
        send(-62)  # past the ttl but within ttl + skew
        assert daemon.stats["passed"] == 2 and daemon.stats["ttlexpired"] == 0
        send(+8)
        send(-67)
        send(+30, ttl=600)  # a long ttl does not widen the future side
        assert daemon.stats["ttlexpired"] == 3 and daemon.stats["passed"] == 2


def test_huge_ttl_is_out_of_bounds_not_an_error() -> None:
    """A ttl above max_ttl (here 10**400, too big for a float) is counted and dropped:
    honoured, it would let a request id outlive the replay cache's memory."""
    with collective("n1") as (daemons, session):
        for ttl in (10 ** 400, 3601):
            request = session.new_request("worker", "echo", {"message": "x"})
            request.ttl = ttl
            daemons[0].handle_message(encode_request(request, session.security))
        stats = daemons[0].stats
        assert stats["outofbounds"] == 2 and stats["passed"] == 0, stats.snapshot()
        assert stats["errors"] == 0


def test_oversized_messages_are_dropped_unread() -> None:
    with collective("n1", extra="max_message_size = 2048\n") as (daemons, session):
        stats = daemons[0].stats
        publish_raw(session, b"{" + b" " * 4096 + b"}")
        good = encode_request(session.new_request("worker", "echo",
                                                  {"message": "a" * 20}), session.security)
        assert len(good) < 2048
        publish_raw(session, good)
        wait_for(lambda: stats["total"] == 2 and stats["passed"] == 1)
        assert stats["oversized"] == 1 and stats["malformed"] == 0
        assert daemons[0].daemon_stats()["oversized"] == 1
