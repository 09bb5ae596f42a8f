"""Discovery and addressing through the real RPCClient and Daemon on the in-process
loopback collective: methods, capabilities, direct vs broadcast, limits, batches,
fire-and-forget, custom reply targets, the no-response and unexpected lists."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from inprocess import HmacSecurity, client, collective, node_config

from mcollective.client import ClientSession, RPCClient
from mcollective.client.rpc import TIMEOUT_REPLY_MARGIN
from mcollective.discovery import DiscoveryError
from mcollective.errors import FilterSyntaxError, MCollectiveError
from mcollective.loopback import LoopbackConnector
from mcollective.security import decode_reply
from mcollective.server.daemon import Daemon

FACTS = {f"n{i}": {"country": "uk" if i % 2 else "de", "index": i} for i in range(1, 7)}
SIX = sorted(FACTS)


class Spy:
    """Records every request the session publishes, in order with the results."""

    def __init__(self, session: ClientSession) -> None:
        self.events: list[tuple[str, Any]] = []
        self.requests: list[Any] = []
        original = session.publish

        def publish(request: Any, *, targets: Any = None) -> float:
            self.requests.append((request, None if targets is None else list(targets)))
            self.events.append(("publish", None if targets is None else len(targets)))
            return original(request, targets=targets)

        session.publish = publish

    def rpc(self) -> list[tuple[Any, list[str] | None]]:
        """Published requests other than discovery pings."""
        return [(r, t) for r, t in self.requests if r.agent != "discovery"]

    def discoveries(self) -> int:
        return sum(1 for r, _ in self.requests if r.agent == "discovery")


@pytest.fixture(scope="module")
def six() -> Iterator[tuple[list[Daemon], ClientSession]]:
    with collective(*SIX, facts=FACTS) as (daemons, session):
        yield daemons, session


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def settled_totals(daemons: list[Daemon], quiet: float = 0.5,
                   timeout: float = 15.0) -> dict[str, int]:
    """Each daemon's message count once none has changed for ``quiet`` seconds: the
    module's daemons are shared, and an earlier test's broadcast may still be on its
    way to a busy one."""
    deadline = time.monotonic() + timeout
    last = {d.identity: d.stats["total"] for d in daemons}
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = {d.identity: d.stats["total"] for d in daemons}
        if now == last:
            break
        last = now
    return last


def make(session: ClientSession, **kw: Any) -> tuple[RPCClient, Spy]:
    kw.setdefault("discovery_timeout", 1)
    return client(session, **kw), Spy(session)


# --- the mc method ----------------------------------------------------------------------


def test_mc_discovery_finds_exactly_the_matching_nodes(six: Any) -> None:
    _, session = six
    c, spy = make(session)
    c.fact_filter("country=uk")
    assert sorted(c.discover()) == ["n1", "n3", "n5"]
    assert c.discover() == c.discover() and spy.discoveries() == 1  # cached
    c.class_filter("/x/")  # a filter change forgets the cache
    assert c.discover() == [] and spy.discoveries() == 2


def test_mc_discovery_stops_at_a_first_n_limit(six: Any) -> None:
    _, session = six
    c, _ = make(session, limit=2)
    assert len(c.discover()) == 2


def test_discovery_request_carries_window_and_timeout(six: Any,
                                                      monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    _, session = six
    c, _ = make(session, discovery_window=0.05, discovery_timeout=3)
    seen: list[Any] = []

    def discover(self: Any, req: Any) -> list[str]:
        seen.append(req)
        return []

    monkeypatch.setattr(type(c.method), "discover", discover)
    c.discover()
    assert (seen[0].window, seen[0].timeout, seen[0].own_agent) == (0.05, 3, "worker")
    c2, _ = make(session)
    assert c2.effective_discovery_window() == c2.config.discovery_window


def test_literal_identities_skip_discovery_and_go_direct(six: Any) -> None:
    daemons, session = six
    before = settled_totals(daemons)
    c, spy = make(session)
    c.identity_filter("n2")
    c.identity_filter("n4")
    results = c.call("echo", message="hi")
    assert sorted(r.sender for r in results) == ["n2", "n4"]
    assert spy.discoveries() == 0
    [(request, targets)] = spy.rpc()
    assert targets == ["n2", "n4"] and request.filter["identity"] == []
    assert request.filter["agent"] == ["worker"]
    after = {d.identity: d.stats["total"] for d in daemons}
    assert {k for k in after if after[k] != before[k]} == {"n2", "n4"}


def test_regex_identities_and_foreign_agents_need_discovery(six: Any) -> None:
    _, session = six
    c, spy = make(session)
    c.identity_filter("/^n[12]$/")
    assert sorted(r.sender for r in c.call("echo", message="x")) == ["n1", "n2"]
    assert spy.discoveries() == 1
    c2, spy2 = make(session)
    c2.identity_filter("n1")
    c2.agent_filter("rpcutil")
    assert [r.sender for r in c2.call("echo", message="x")] == ["n1"]
    assert spy2.discoveries() == 1


# --- direct or broadcast ----------------------------------------------------------------


def test_small_results_go_direct_large_ones_broadcast() -> None:
    with collective("n1", "n2", "n3", extra="direct_addressing_threshold = 2\n") as (
            _, session):
        big, spy = make(session)
        assert len(big.call("echo", message="x")) == 3
        [(request, targets)] = spy.rpc()
        assert targets is None and request.filter["agent"] == ["worker"]
        small, spy = make(session)
        small.identity_filter("/^n[12]$/")
        assert len(small.call("echo", message="x")) == 2
        [(request, targets)] = spy.rpc()
        assert sorted(targets or []) == ["n1", "n2"] and request.filter["identity"] == []


def test_direct_addressing_off() -> None:
    extra = "direct_addressing = 0\n"
    with collective("n1", "n2", "n3", extra=extra) as (_, session):
        c, spy = make(session)
        c.identity_filter("n1")
        assert [r.sender for r in c.call("echo", message="x")] == ["n1"]
        [(request, targets)] = spy.rpc()
        assert targets is None and request.filter["identity"] == ["n1"]
        limited, spy = make(session, limit=1)
        [result] = limited.call("echo", message="x")
        [(request, targets)] = spy.rpc()
        assert targets is None and request.filter["identity"] == [result.sender]
        with pytest.raises(MCollectiveError, match="needs direct addressing"):
            list(make(session)[0].stream("echo", {"message": "x"}, targets=["n1"]))
        with pytest.raises(MCollectiveError, match="batching needs direct addressing"):
            make(session, batch_size=1)[0].call("echo", message="x")


def test_supplied_nodes_go_direct(six: Any) -> None:
    _, session = six
    c, spy = make(session)
    assert c.discover(nodes=["n3", "n1", "n3"]) == ["n3", "n1"]
    assert sorted(r.sender for r in c.call("echo", message="x")) == ["n1", "n3"]
    assert spy.rpc()[0][1] == ["n3", "n1"] and spy.discoveries() == 0
    d, spy = make(session)
    results = list(d.stream("echo", {"message": "x"}, targets=["n2", "ghost"]))
    assert [r.sender for r in results] == ["n2"]
    assert d.stats.discovery_method == "supplied" and d.stats.noresponsefrom == ["ghost"]


# --- list methods, capabilities, forced mc ---------------------------------------------


def test_stdin_and_flatfile_methods_address_listed_nodes_directly(six: Any,
                                                                   tmp_path: Any) -> None:
    _, session = six
    c, spy = make(session, discovery_method="stdin", stdin="n2\nn5\n# comment\n")
    assert sorted(r.sender for r in c.call("echo", message="x")) == ["n2", "n5"]
    assert spy.discoveries() == 0 and sorted(spy.rpc()[0][1] or []) == ["n2", "n5"]
    path = tmp_path / "nodes.json"
    path.write_text('[{"sender": "n1"}, {"sender": "n6"}, {"sender": "n4"}]')
    f, _ = make(session, discovery_method="flatfile", discovery_options=[str(path)])
    f.identity_filter("/[16]$/")
    assert sorted(r.sender for r in f.call("echo", message="x")) == ["n1", "n6"]


def test_a_list_method_cannot_use_other_filters(six: Any, tmp_path: Any) -> None:
    _, session = six
    path = tmp_path / "nodes.txt"
    path.write_text("n1\n")
    c, spy = make(session, discovery_method="flatfile", discovery_options=[str(path)])
    c.fact_filter("country=uk")
    with pytest.raises(DiscoveryError, match=r"flatfile discovery method cannot use -F"):
        c.call("echo", message="x")
    assert spy.requests == []


def test_compound_filters_force_mc(six: Any, tmp_path: Any,
                                   caplog: pytest.LogCaptureFixture) -> None:
    _, session = six
    path = tmp_path / "nodes.txt"
    path.write_text("n1\n")
    c, spy = make(session, discovery_method="flatfile", discovery_options=[str(path)])
    c.compound_filter("country=de and index>2")
    with caplog.at_level(logging.WARNING):
        assert sorted(c.discover()) == ["n4", "n6"]
    assert c.discovery_method == "mc" and spy.discoveries() == 1
    assert "using mc" in caplog.text
    c.reset_filter()
    assert c.discovery_method == "flatfile" and c.discover() == ["n1"]


def test_inventory_method_evaluates_compound_itself(six: Any, tmp_path: Any) -> None:
    _, session = six
    path = tmp_path / "inv.yaml"
    path.write_text("nodes:\n  n1: {facts: {tier: gold}}\n  n2: {facts: {tier: lead}}\n"
                    "  n3: {facts: {tier: gold}}\ngroups:\n  odd: [n1, n3]\n")
    c, spy = make(session, discovery_method="inventory", discovery_options=[str(path)])
    c.compound_filter("tier=gold")
    c.identity_filter("group:odd")
    assert c.discovery_method == "inventory"
    # The nodes re-check the filter: tier is a fact of the file, not of the nodes.
    results = c.call("echo", message="x")
    assert sorted(spy.rpc()[0][1] or []) == ["n1", "n3"] and spy.discoveries() == 0
    assert results == [] and sorted(c.stats.noresponsefrom) == ["n1", "n3"]


def test_unknown_method_is_a_clear_error(six: Any) -> None:
    _, session = six
    c, _ = make(session, discovery_method="flatfiel")
    with pytest.raises(MCollectiveError, match="did you mean 'flatfile'"):
        c.discover()


# --- data functions are checked before anything is sent ----------------------------------


def test_bad_data_functions_are_rejected_when_set(six: Any) -> None:
    _, session = six
    c, spy = make(session)
    with pytest.raises(FilterSyntaxError, match="no output 'sise'"):
        c.compound_filter("fstat('/etc/hosts').sise>0")
    assert c.filter.compound == () and spy.requests == []
    base = c.effective_discovery_timeout()
    c.compound_filter("fstat('/').present=1")
    assert c.effective_discovery_timeout() == base + 1  # the fstat DDL timeout
    # worker's timeout, the margin for its node's "timed out" reply, + fstat's
    assert c.call_timeout("echo") == pytest.approx(1 + TIMEOUT_REPLY_MARGIN + 0.1 + 1)
    assert len(c.discover()) == 6


# --- limits --------------------------------------------------------------------------------


def test_limit_nodes(six: Any) -> None:
    _, session = six
    c, spy = make(session, limit="50%", limit_seed=7)
    first = sorted(r.sender for r in c.call("echo", message="x"))
    again, _ = make(session, limit="50%", limit_seed=7)
    assert len(first) == 3
    assert sorted(r.sender for r in again.call("echo", message="x")) == first
    assert c.limit_method == "random" and c.stats.discovered == 3
    assert c.stats.noresponsefrom == [] and spy.rpc()[0][1] is not None  # direct
    one, _ = make(session, limit=1)
    assert len(one.call("echo", message="x")) == 1 and one.limit_method == "first"


def test_limit_method_rules(six: Any) -> None:
    _, session = six
    c, _ = make(session)
    assert c.limit_method == "first"
    c.limit_seed = 3
    assert c.limit_method == "random"
    c.limit_method = "first"
    assert c.limit_method == "first"
    with pytest.raises(MCollectiveError, match="first or random"):
        c.limit_method = "fast"
    with pytest.raises(MCollectiveError, match="limit must be N or N%"):
        c.limit_targets = "lots"
    with collective("x1", extra="rpclimitmethod = first\n") as (_, other):
        configured = client(other, limit_seed=3)
        assert configured.limit_method == "first"  # said so in the config file


# --- batches -------------------------------------------------------------------------------


def test_batches_share_one_id_and_wait_for_each_other(six: Any,
                                                      monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    _, session = six
    sleeps: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real_sleep(0.01)

    monkeypatch.setattr("mcollective.client.rpc._sleep", sleep)
    c, spy = make(session, batch_size=2, batch_sleep_time=1.5)
    for result in c.stream("echo", {"message": "x"}):
        spy.events.append(("result", result.sender))
    kinds = [kind for kind, _ in spy.events if kind in ("publish", "result")]
    rpc_publishes = kinds[1:]  # the first publish is discovery
    assert rpc_publishes == ["publish", "result", "result"] * 3
    assert sleeps == [1.5, 1.5]  # between batches, not after the last
    requests = [r for r, _ in spy.rpc()]
    assert len({r.id for r in requests}) == 1 and [len(t or []) for _, t in spy.rpc()] == [2] * 3
    assert requests[0].time <= requests[1].time <= requests[2].time
    stats = c.stats
    assert (stats.batches, stats.responses, stats.okcount, stats.discovered) == (3, 6, 6, 6)
    assert stats.exit_code() == 0


def test_batch_percentages_and_per_call_overrides(six: Any) -> None:
    _, session = six
    c, spy = make(session, batch_size="34%", batch_sleep_time=0)
    assert len(c.call("echo", message="x")) == 6
    assert [len(t or []) for _, t in spy.rpc()] == [3, 3]  # ceil(34% of 6) = 3
    spy.requests.clear()
    list(c.stream("echo", {"message": "x"}, batch_size=None))
    assert [len(t or []) for _, t in spy.rpc()] == [6]


def test_batches_cannot_be_fire_and_forget(six: Any) -> None:
    _, session = six
    with pytest.raises(MCollectiveError, match="cannot be combined with --nr"):
        make(session, batch_size=2)[0].call_async("echo", message="x")
    with pytest.raises(MCollectiveError, match="or --reply-to"):
        make(session, batch_size=2, reply_to="elsewhere")[0].call("echo", message="x")
    with pytest.raises(MCollectiveError, match="batch size"):
        make(session, batch_size="2 nodes")


# --- fire and forget, reply-to ----------------------------------------------------------


def test_fire_and_forget_needs_no_discovery(six: Any) -> None:
    daemons, session = six
    before = sum(d.stats["passed"] for d in daemons)
    replies_before = sum(d.stats["replies"] for d in daemons)
    c, spy = make(session)
    c.fact_filter("country=uk")
    request_id = c.call_async("echo", message="x")
    assert len(request_id) == 32 and c.stats.requestid == request_id
    assert spy.discoveries() == 0 and spy.rpc()[0][1] is None  # one broadcast
    assert spy.rpc()[0][0].process_results is False
    wait_for(lambda: sum(d.stats["passed"] for d in daemons) == before + 3)
    time.sleep(0.1)
    assert sum(d.stats["replies"] for d in daemons) == replies_before
    assert c.stats.discovery_performed is False


def test_fire_and_forget_with_a_list_method_goes_direct(six: Any) -> None:
    _, session = six
    c, spy = make(session, discovery_method="stdin", stdin="n1\nn2\n")
    c.call_async("echo", message="x")
    assert spy.rpc()[0][1] == ["n1", "n2"]


def test_reply_to_sends_replies_elsewhere_and_does_not_wait(six: Any) -> None:
    daemons, session = six
    broker = daemons[0].config.plugin_config("loopback", {"name": str})["name"]
    elsewhere = LoopbackConnector(broker)
    received: list[bytes] = []
    done = threading.Event()

    def collect(body: bytes, _identity: Any) -> None:
        received.append(body)
        if len(received) == 2:
            done.set()

    inbox = elsewhere.subscribe_replies()
    elsewhere.start(collect)
    try:
        c, spy = make(session, reply_to=inbox)
        c.identity_filter("n1")
        c.identity_filter("n2")
        assert c.call("echo", message="hi") == []
        assert len(c.stats.requestid) == 32
        request = spy.rpc()[0][0]
        assert request.reply_to == inbox and request.process_results
        assert done.wait(5)
        replies = [decode_reply(body, HmacSecurity()) for body in received]
        assert sorted(r.sender for r in replies) == ["n1", "n2"]
        assert {r.request for r in replies} == {c.stats.requestid}
    finally:
        elsewhere.close()


# --- who answered ------------------------------------------------------------------------


def test_no_response_and_unexpected_response_lists() -> None:
    with collective("n1", "n2", extra="direct_addressing_threshold = 0\n") as (
            daemons, session):
        c, _ = make(session, timeout=0.5)
        assert sorted(c.discover()) == ["n1", "n2"]
        # After discovery n2 goes away and n3 arrives: the cached discovery is stale.
        daemons[1].stop(timeout=2)
        broker = daemons[0].config.plugin_config("loopback", {"name": str})["name"]
        late = Daemon(node_config("n3", broker), plugins=daemons[0].plugins)
        late.start()
        try:
            results = c.call("echo", message="x")
            assert sorted(r.sender for r in results) == ["n1", "n3"]
            assert c.stats.unexpectedresponsefrom == ["n3"]
            assert c.stats.noresponsefrom == ["n2"]
        finally:
            late.stop(timeout=2)
        ghost, _ = make(session, timeout=0.3)
        ghost.identity_filter("n1")
        ghost.identity_filter("ghost")
        assert [r.sender for r in ghost.call("echo", message="x")] == ["n1"]
        assert ghost.stats.noresponsefrom == ["ghost"] and ghost.stats.exit_code() == 5
        only_ghost, _ = make(session, timeout=0.3)
        only_ghost.identity_filter("ghost")
        assert only_ghost.call("echo", message="x") == []
        assert only_ghost.stats.exit_code() == 3
        nobody, _ = make(session, discovery_timeout=0.2)
        nobody.fact_filter("country=fr")
        assert nobody.call("echo", message="x") == [] and nobody.stats.exit_code() == 1


# --- acting for several callers over one session ------------------------------------


class _Alice(HmacSecurity):
    def caller_id(self) -> str:
        return "user=alice"


def test_a_caller_session_signs_as_its_caller_over_the_same_connection(six: Any) -> None:
    _, session = six
    alice = session.as_caller(_Alice())
    c, spy = make(alice)
    found: list[str] = []
    c.fact_filter("country=de")
    assert sorted(c.discover(on_node=found.append)) == ["n2", "n4", "n6"]
    assert sorted(found) == ["n2", "n4", "n6"]  # each reported as it answered
    results = c.call("echo", message="hi")
    assert sorted(r.sender for r in results) == ["n2", "n4", "n6"]
    assert {r.caller for r, _ in spy.requests} == {"user=alice"}
    assert alice.connector is session.connector and alice.reply_to == session.reply_to
    alice.close()  # the parent owns the connection
    assert session.connector is not None
    assert sorted(r.sender for r in client(session).call("echo", message="x")) == SIX
