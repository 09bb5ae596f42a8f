"""--limit-nodes and --batch arithmetic (mcollective.client.targets), and the exit codes."""

from __future__ import annotations

from typing import Any

import pytest

from mcollective.client.results import Result, RPCStats
from mcollective.client.targets import batches, limit_nodes, parse_size, resolve_size
from mcollective.errors import MCollectiveError

NODES = [f"n{i:02d}" for i in range(10)]


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (0, None), ("", None), ("0", None), ("0%", None), (3, 3), ("3", 3),
    (" 7 ", 7), ("25%", "25%"), ("100%", "100%"),
])
def test_parse_size(value: Any, expected: object) -> None:
    assert parse_size(value, "limit") == expected


@pytest.mark.parametrize("value", ["-1", -1, "1.5", "x", "10%%", "%", "101%", True])
def test_parse_size_rejects(value: Any) -> None:
    with pytest.raises(MCollectiveError, match="limit"):
        parse_size(value, "limit")


@pytest.mark.parametrize(("size", "total", "up", "expected"), [
    (3, 10, False, 3), (30, 10, False, 10), ("50%", 10, False, 5), ("15%", 10, False, 1),
    ("5%", 10, False, 1),  # floors, but at least one
    ("15%", 10, True, 2),  # batches round up
    ("34%", 6, True, 3), ("50%", 0, False, 0), ("100%", 3, False, 3),
])
def test_resolve_size(size: int | str, total: int, up: bool, expected: int) -> None:
    assert resolve_size(size, total, round_up=up) == expected


def test_limit_first_keeps_discovery_order() -> None:
    assert limit_nodes(NODES, 3) == NODES[:3]
    assert limit_nodes(NODES, "25%") == NODES[:2]
    assert limit_nodes(NODES, 50) == NODES


def test_limit_random_with_a_seed_is_repeatable_whatever_the_discovery_order() -> None:
    first = limit_nodes(NODES, "50%", method="random", seed=7)
    assert len(first) == 5 and set(first) <= set(NODES)
    assert limit_nodes(list(reversed(NODES)), "50%", method="random", seed=7) == first
    others = {tuple(limit_nodes(NODES, 5, method="random", seed=s)) for s in range(20)}
    assert len(others) > 1  # the seed matters
    assert len(set(limit_nodes(NODES, 4, method="random"))) == 4
    with pytest.raises(MCollectiveError, match="first or random"):
        limit_nodes(NODES, 1, method="fastest")


def test_batches() -> None:
    assert list(batches(NODES[:6], 2)) == [NODES[0:2], NODES[2:4], NODES[4:6]]
    assert list(batches(NODES[:5], 2)) == [NODES[0:2], NODES[2:4], NODES[4:5]]
    assert list(batches(NODES[:6], "50%")) == [NODES[0:3], NODES[3:6]]
    assert list(batches(NODES[:3], "10%")) == [[n] for n in NODES[:3]]
    assert list(batches(NODES[:3], None)) == [NODES[:3]]
    assert list(batches([], 2)) == []


def _result(sender: str, code: int = 0) -> Result:
    return Result(sender, code, "OK" if code == 0 else "failed", {}, "a", "b")


@pytest.mark.parametrize(("discovered", "performed", "replies", "code"), [
    (["a", "b"], True, [("a", 0), ("b", 0)], 0),
    ([], True, [], 1),
    (["a", "b"], True, [("a", 0), ("b", 1)], 2),
    (["a", "b"], True, [], 3),
    ([], False, [], 4),
    ([], False, [("a", 0)], 0),
    ([], False, [("a", 5)], 2),
])
def test_exit_codes(discovered: list[str], performed: bool,
                    replies: list[tuple[str, int]], code: int) -> None:
    stats = RPCStats(discovered_nodes=discovered, discovery_performed=performed)
    for sender, status in replies:
        stats.record(_result(sender, status))
    assert stats.exit_code() == code


def test_no_response_and_unexpected_response_lists() -> None:
    stats = RPCStats(discovered_nodes=["a", "b", "c"], discovery_performed=True)
    for sender in ("a", "x"):
        stats.record(_result(sender))
    assert stats.noresponsefrom == ["b", "c"]
    assert stats.unexpectedresponsefrom == ["x"]
    assert stats.to_dict()["noresponsefrom"] == ["b", "c"]
