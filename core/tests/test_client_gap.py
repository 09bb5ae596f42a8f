"""How a call reports a broker failure (RPCStats.gap_report and the exit code): the
line a user reads, and the code a script tests. The broker failures themselves are
real ones, in tests/test_faults_brokers.py."""

from __future__ import annotations

from mcollective.client.results import Result, RPCStats

LOST = "lost the connection to amqp://mco:**@broker1:5672// during the request"


def stats_of(discovered: list[str], answered: list[str], *, error: str = "",
             status: int = 0, performed: bool = True) -> RPCStats:
    stats = RPCStats(discovered_nodes=discovered, discovery_performed=performed,
                     connection_error=error)
    for sender in answered:
        stats.record(Result(sender, status, "OK", {}, "rpcutil", "ping"))
    return stats


def test_nothing_to_report_without_a_broker_failure() -> None:
    stats = stats_of(["a", "b"], ["a"])
    assert stats.gap_report() is None
    assert stats.exit_code() == 5  # a silent node is told apart (MCollective said 0)


def test_the_gap_names_the_broker_and_the_silent_nodes() -> None:
    stats = stats_of(["a", "b", "c"], ["b"], error=LOST)
    assert stats.gap_report() == f"{LOST}; 2 of 3 nodes did not answer: a, c"
    assert stats.exit_code() == 5  # not a success: nodes did not answer
    assert stats.to_dict()["connection_error"] == LOST


def test_a_long_gap_is_cut_short_on_one_line() -> None:
    nodes = [f"n{i:02d}" for i in range(25)]
    report = stats_of(nodes, [], error=LOST).gap_report()
    assert report is not None and "\n" not in report
    assert report.endswith("25 of 25 nodes did not answer: n00, n01, n02, n03, n04, n05, "
                           "n06, n07, n08, n09 and 15 more")


def test_codes_that_say_more_are_kept() -> None:
    assert stats_of(["a", "b"], [], error=LOST).exit_code() == 3
    assert stats_of(["a", "b"], ["a"], error=LOST, status=1).exit_code() == 5
    assert stats_of(["a", "b"], ["a", "b"], error=LOST, status=1).exit_code() == 2


def test_every_node_answered_despite_the_failure() -> None:
    stats = stats_of(["a", "b"], ["a", "b"], error=LOST)
    assert stats.gap_report() == f"{LOST}; every node answered nevertheless"
    assert stats.exit_code() == 0


def test_without_discovery_nobody_knows_who_is_missing() -> None:
    stats = stats_of([], ["a"], error=LOST, performed=False)
    assert stats.gap_report() == f"{LOST}; 1 node(s) answered"
    assert stats.exit_code() == 1
