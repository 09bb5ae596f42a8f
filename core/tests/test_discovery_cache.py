"""The discovery cache and the one-round ``mco rpc`` it allows (docs/discovery.md).

In-process daemons on the loopback connector; the request counting is the Spy of
test_discovery (every publish recorded)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inprocess import client, collective
from test_discovery import Spy

from mcollective.client.discovery_cache import MAX_ENTRIES, DiscoveryCache, cache_key
from mcollective.discovery import GRACE_MIN, grace


@pytest.fixture
def three(tmp_path: Path) -> Iterator[tuple[list[Any], Any]]:
    extra = f"statedir = {tmp_path}\ndiscovery_cache_ttl = 300\n"
    with collective("n1", "n2", "n3", extra=extra) as (daemons, session):
        yield daemons, session


def cached_client(session: Any, **kw: Any) -> Any:
    c = client(session, discovery_timeout=None, **kw)
    c.use_discovery_cache = True
    return c


def test_store_lookup_expiry_and_bounds(tmp_path: Path) -> None:
    cache = DiscoveryCache(tmp_path, ttl=60)
    key = cache_key(collective="c", method="mc", flt={"agent": ["x"]})
    assert cache.lookup(key) is None
    cache.store(key, ["a", "b", "a"])
    nodes, age, lost = cache.lookup(key) or ([], -1.0, [])
    assert nodes == ["a", "b"] and 0 <= age < 60 and lost == []
    assert cache.lookup(key, now=(cache.path.stat().st_mtime + 3600)) is None  # stale
    assert DiscoveryCache(tmp_path, ttl=0).lookup(key) is None  # switched off
    for i in range(MAX_ENTRIES + 5):
        cache.store(f"k{i}", ["n"])
    assert len(json.loads(cache.path.read_text())) == MAX_ENTRIES
    cache.path.write_text("{not json")  # a damaged file is an empty cache, not an error
    assert cache.lookup(key) is None
    cache.store(key, ["a"])
    assert cache.lookup(key) is not None


def test_the_key_depends_on_filter_collective_and_method() -> None:
    base = {"collective": "c", "method": "mc", "flt": {"fact": [], "agent": ["x"]}}
    key = cache_key(**base)  # type: ignore[arg-type]
    assert key != cache_key(**{**base, "collective": "d"})  # type: ignore[arg-type]
    assert key != cache_key(**{**base, "method": "other"})  # type: ignore[arg-type]
    assert key != cache_key(**{**base, "flt": {"fact": ["a=1"], "agent": ["x"]}})  # type: ignore[arg-type]


def test_grace_is_bounded() -> None:
    assert grace(0.0, 0.3) == GRACE_MIN
    assert grace(0.1, 0.3) == pytest.approx(0.1)
    assert grace(5.0, 0.3) == 0.3


def test_a_cached_discovery_makes_the_call_one_round(three: Any) -> None:
    _, session = three
    spy = Spy(session)
    first = cached_client(session)
    assert sorted(r.sender for r in first.call("echo", message="hi")) == ["n1", "n2", "n3"]
    assert spy.discoveries() == 1 and first.cache_age is None
    second = cached_client(session)
    results = second.call("echo", message="again")
    assert sorted(r.sender for r in results) == ["n1", "n2", "n3"]
    assert spy.discoveries() == 1  # no second discovery
    assert second.cache_age is not None
    request, targets = spy.rpc()[-1]
    assert targets is None  # broadcast, carrying the filter
    assert request.filter["agent"] == ["worker"]
    assert sorted(second.stats.discovered_nodes) == ["n1", "n2", "n3"]


def test_a_newcomer_answers_within_the_grace_and_is_discovered(three: Any) -> None:
    _, session = three
    c = cached_client(session)
    c.remember_discovery(["n1", "n2"])  # n3 joined since
    results = c.call("echo", message="hi")
    assert sorted(r.sender for r in results) == ["n1", "n2", "n3"]
    assert sorted(c.stats.discovered_nodes) == ["n1", "n2", "n3"]
    assert c.stats.unexpectedresponsefrom == [] and c.stats.noresponsefrom == []
    hit = cached_client(session).cached_discovery()
    assert hit is not None and sorted(hit[0]) == ["n1", "n2", "n3"]


def test_a_node_gone_since_is_reported_once_then_forgotten(three: Any) -> None:
    _, session = three
    c = cached_client(session, timeout=1)
    c.remember_discovery(["n1", "n2", "n3", "ghost"])
    results = c.call("echo", message="hi")
    assert sorted(r.sender for r in results) == ["n1", "n2", "n3"]
    assert c.stats.noresponsefrom == ["ghost"]
    hit = cached_client(session).cached_discovery()
    assert hit is not None and "ghost" not in hit[0]


def test_a_node_missing_from_one_answer_is_waited_for_as_a_discovery_would(
        tmp_path: Path) -> None:
    """One short answer (a node reconnecting while a discovery ran) must not make the
    entry short for as long as it is used: the node stays *lost*, waited for, for
    another ttl; then it is forgotten."""
    cache = DiscoveryCache(tmp_path, ttl=60)
    cache.store("k", ["a", "b"])
    cache.store("k", ["a"])
    hit = cache.lookup("k")
    assert hit is not None and hit.nodes == ["a"] and hit.lost == ["b"]
    cache.store("k", ["a"])  # a run that ended at the grace re-stores the short list
    hit = cache.lookup("k")
    assert hit is not None and hit.lost == ["b"]  # still waited for
    later = cache.path.stat().st_mtime + 61
    assert cache._lost(json.loads(cache.path.read_text())["k"], later) == {}
    cache.store("k", ["a", "b"])  # back
    hit = cache.lookup("k")
    assert hit is not None and hit.nodes == ["a", "b"] and hit.lost == []


def test_a_lost_node_answering_late_is_found_and_discovered(three: Any) -> None:
    """With n3 lost from the last answer, the call does not end at the grace after
    n1 and n2: a late n3 is still found (the idle window), as a discovered node, not
    an unexpected one; and the entry is whole again."""
    _, session = three
    cached_client(session).remember_discovery(["n1", "n2", "n3"])
    cached_client(session).remember_discovery(["n1", "n2"])
    c = cached_client(session)
    results = c.call("echo", message="hi")
    assert sorted(r.sender for r in results) == ["n1", "n2", "n3"]
    assert sorted(c.stats.discovered_nodes) == ["n1", "n2", "n3"]
    assert c.stats.unexpectedresponsefrom == [] and c.stats.noresponsefrom == []
    hit = cached_client(session).cached_discovery()
    assert hit is not None and sorted(hit.nodes) == ["n1", "n2", "n3"] and hit.lost == []


def test_a_lost_node_that_stays_silent_is_not_reported(three: Any) -> None:
    _, session = three
    cached_client(session).remember_discovery(["n1", "n2", "n3", "ghost"])
    cached_client(session).remember_discovery(["n1", "n2", "n3"])
    c = cached_client(session, timeout=30)
    results = c.call("echo", message="hi")  # ends at the idle window, not at 30 s
    assert sorted(r.sender for r in results) == ["n1", "n2", "n3"]
    assert c.stats.noresponsefrom == [] and c.stats.blocktime < 30


def test_no_cache_with_dt_limits_batches_or_for_other_clients(three: Any) -> None:
    _, session = three
    spy = Spy(session)
    cached_client(session).call("echo", message="prime")
    assert spy.discoveries() == 1
    explicit = client(session, discovery_timeout=1)
    explicit.use_discovery_cache = True
    explicit.call("echo", message="x")
    assert spy.discoveries() == 2  # --dt: discover now
    cached_client(session, limit=2).call("echo", message="x")
    assert spy.discoveries() == 3
    plain = client(session, discovery_timeout=None)  # the API default: no cache
    plain.call("echo", message="x")
    assert spy.discoveries() == 4


def test_a_short_list_heals_a_ping_waits_as_a_discovery_would() -> None:
    """A node not expected answering means the cached list was short: the wait then
    ends at the idle window, not at the grace, so a late expected-to-be-missing node is
    still found (and the next cache entry is whole)."""
    import threading
    import time
    from types import SimpleNamespace

    from mcollective.client.replies import ReplyQueue
    from mcollective.discovery import collect_expected

    q = ReplyQueue()
    started = time.monotonic()
    q.put(SimpleNamespace(sender="a"), started)  # type: ignore[arg-type]
    q.put(SimpleNamespace(sender="b"), started)  # type: ignore[arg-type]  # not expected

    def late() -> None:
        time.sleep(0.3)  # far beyond the grace (20 ms), within the window
        q.put(SimpleNamespace(sender="c"), time.monotonic())  # type: ignore[arg-type]

    threading.Thread(target=late, daemon=True).start()
    got = [r.sender for r, _ in collect_expected(q, started=started, timeout=30,
                                                 window=5.0, expected={"a"})]
    assert got == ["a", "b", "c"]
