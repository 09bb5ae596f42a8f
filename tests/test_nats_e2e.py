"""Real daemons and the real ``mco`` on the running NATS server (``connector = nats``):
ping, rpc, discovery by facts and classes, direct addressing, sub-collectives, and a
node that keeps serving when the client side misbehaves."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fleet import FLEET, lines, ok, rpc_json, start_fleet

from mcollective.testing import LocalCollective

pytestmark = pytest.mark.broker("nats")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCollective]:
    from mcollective.testing.brokers import require_broker

    url = require_broker("nats")
    root = tmp_path_factory.mktemp("nats-fleet")
    name = f"nats{os.getpid()}{root.name[-4:]}".replace("-", "").replace("_", "")
    collective = LocalCollective(root, connector_url=url, connector="nats",
                                 collectives=(name, f"{name}uk"))
    try:
        start_fleet(collective)
        yield collective
    finally:
        collective.stop_all()


def test_mco_ping_on_nats(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("ping"))
    assert sorted(line.split()[0] for line in proc.stdout.splitlines()
                  if "time=" in line) == sorted(FLEET)


def test_mco_rpc_on_nats(fleet: LocalCollective) -> None:
    replies = rpc_json(fleet, "rpcutil", "get_fact", "fact=country")
    assert {r["sender"]: r["data"]["value"] for r in replies} == {
        "web1.example.net": "uk", "web2.example.net": "de", "db1.example.net": "uk"}


def test_discovery_by_facts_and_classes_on_nats(fleet: LocalCollective) -> None:
    assert lines(ok(fleet.mco("find", "-F", "country=uk"))) == [
        "db1.example.net", "web1.example.net"]
    assert lines(ok(fleet.mco("find", "-C", "apache", "-F", "cpus>8"))) == [
        "web2.example.net"]


def test_direct_requests_on_nats(fleet: LocalCollective) -> None:
    replies = rpc_json(fleet, "rpcutil", "ping", "-I", "db1.example.net")
    assert [r["sender"] for r in replies] == ["db1.example.net"]


def test_sub_collective_on_nats(fleet: LocalCollective) -> None:
    """Every node is in both collectives; -T addresses the second only, and a node in
    just one collective answers just there."""
    second = fleet.collectives[1]
    fleet.add_node("only-main.example.net", collectives=[fleet.collectives[0]])
    try:
        in_second = lines(ok(fleet.mco("find", "-T", second)))
        assert in_second == sorted(FLEET)
        in_main = lines(ok(fleet.mco("find")))
        assert in_main == sorted([*FLEET, "only-main.example.net"])
    finally:
        fleet.nodes.pop("only-main.example.net").stop()
