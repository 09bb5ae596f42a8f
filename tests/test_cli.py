"""The real mco against real mcollectived processes on the embedded default."""

from __future__ import annotations

import json

import pytest
from fleet import FLEET, daemon_stats, lines, ok, rpc_json, start_fleet

from mcollective.testing import LocalCollective

ALL = sorted(FLEET)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    collective = LocalCollective(tmp_path_factory.mktemp("fleet"))
    try:
        yield start_fleet(collective)
    finally:
        collective.stop_all()


def test_ping_lists_every_daemon(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("ping"))
    answered = sorted(line.split()[0] for line in proc.stdout.splitlines()
                      if "time=" in line)
    assert answered == ALL
    assert "3 replies max:" in proc.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["-F", "country=uk"], ["db1.example.net", "web1.example.net"]),
    (["-F", "country!=uk"], ["web2.example.net"]),
    (["-F", "cpus>10"], ["db1.example.net", "web2.example.net"]),
    (["-F", "cpus<=4"], ["web1.example.net"]),
    (["-F", "os.family=Debian", "-F", "role=db"], ["db1.example.net"]),
    (["-F", "ips=10.0.1.1"], ["web1.example.net"]),
    (["-F", "role=~/^w/"], ["web1.example.net", "web2.example.net"]),
    (["-C", "apache"], ["web1.example.net", "web2.example.net"]),
    (["-C", "/sql/"], ["db1.example.net"]),
    (["-I", "web1.example.net", "-I", "/^db/"], ["db1.example.net", "web1.example.net"]),
    (["-A", "rpcutil", "-F", "country=de"], ["web2.example.net"]),
    (["-W", "apache country=uk"], ["web1.example.net"]),
    (["-S", "(role=db or cpus<5) and not web2.example.net"],
     ["db1.example.net", "web1.example.net"]),
    (["-S", "apache and os.release.major>=10"], ["web1.example.net"]),
])
def test_find_returns_exactly_the_matching_identities(fleet: LocalCollective,
                                                      args: list[str],
                                                      expected: list[str]) -> None:
    assert lines(ok(fleet.mco("find", *args))) == expected


def test_find_nothing_exits_1(fleet: LocalCollective) -> None:
    proc = fleet.mco("find", "-F", "country=fr")
    assert proc.returncode == 1 and proc.stdout == ""


def test_inventory_json_of_one_node(fleet: LocalCollective) -> None:
    [reply] = rpc_json(fleet, "rpcutil", "inventory", "-I", "db1.example.net")
    assert reply["sender"] == "db1.example.net" and reply["statuscode"] == 0
    data = reply["data"]
    assert {"rpcutil", "discovery"} <= set(data["agents"])
    assert data["facts"] == FLEET["db1.example.net"][0]
    assert data["collectives"] == ["mcollective"]
    assert data["classes"] == ["mysql", "base"]


def test_inventory_application(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("inventory", "web2.example.net"))
    assert "Inventory for web2.example.net:" in proc.stdout
    assert "os.family => RedHat" in proc.stdout
    assert "rpcutil" in proc.stdout and "Total Messages:" in proc.stdout


def test_facts_report(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("facts", "country"))
    assert "Report for fact: country" in proc.stdout
    assert "uk  found 2 times" in proc.stdout and "de  found 1 times" in proc.stdout
    assert "Finished processing 3 / 3 hosts" in proc.stdout
    verbose = ok(fleet.mco("facts", "country", "-v")).stdout
    assert "            web2.example.net" in verbose  # nodes listed under their value
    assert "Nodes: 3 / 3" in verbose


def test_rpc_prints_ddl_labels_and_summary(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=os.family"))
    assert proc.stdout.count("Value: Debian") == 2 and "Value: RedHat" in proc.stdout
    assert "Finished processing 3 / 3 hosts in" in proc.stdout
    assert "Discovering hosts using the mc method" in proc.stderr


def test_bad_argument_fails_before_sending(fleet: LocalCollective) -> None:
    before = daemon_stats(fleet, "web1.example.net")["total"]
    proc = fleet.mco("rpc", "rpcutil", "get_fact", "fact=not a fact")
    assert proc.returncode == 1
    assert "invalid input 'fact'" in proc.stderr
    proc = fleet.mco("rpc", "rpcutil", "get_fact", "fatc=os")
    assert proc.returncode == 1 and "fatc" in proc.stderr
    proc = fleet.mco("rpc", "rpcutil", "get_fact")
    assert proc.returncode == 1 and "fact" in proc.stderr
    # Only the daemon_stats call itself reached the node (its discovery is skipped: -I).
    assert daemon_stats(fleet, "web1.example.net")["total"] == before + 1


def test_exit_codes(fleet: LocalCollective) -> None:
    assert fleet.mco("rpc", "rpcutil", "ping", "-F", "country=fr").returncode == 1
    failing = fleet.mco("rpc", "rpcutil", "get_config_item", "item=nope")
    assert failing.returncode == 2
    assert "Request Aborted" in failing.stdout and "Unknown config property" in failing.stdout
    silent = fleet.mco("rpc", "rpcutil", "ping", "-I", "ghost.example.net", "-t", "1")
    assert silent.returncode == 3
    assert "No response from:" in silent.stdout and "ghost.example.net" in silent.stdout


def test_plugins_lists_every_kind(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("plugins", "-j"))
    found = {(p["kind"], p["name"]): p for p in json.loads(proc.stdout)}
    assert found[("connector", "kombu")]["distribution"] == "mcollective-connector-kombu"
    assert found[("security", "psk")]["distribution"] == "mcollective-security-psk"
    assert found[("facts", "yaml")]["distribution"] == "mcollective-facts-yaml"
    assert found[("facts", "system")]["distribution"] == "mcollective-facts-system"
    assert found[("agent", "rpcutil")]["distribution"] == "mcollective-core"
    table = ok(fleet.mco("plugins"))
    assert "KIND" in table.stdout and "mcollective-connector-kombu" in table.stdout


def test_help_and_unknown_commands(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("help"))
    for name in ("ping", "rpc", "find", "facts", "inventory", "plugins"):
        assert f"  {name}" in proc.stdout
    wrong = fleet.mco("pnig")
    assert wrong.returncode == 1 and "did you mean 'ping'" in wrong.stderr


def test_json_output_is_one_document(fleet: LocalCollective) -> None:
    replies = rpc_json(fleet, "rpcutil", "ping")
    assert sorted(r["sender"] for r in replies) == ALL
    assert all(set(r) == {"agent", "action", "sender", "statuscode", "statusmsg", "data"}
               for r in replies)


@pytest.mark.parametrize(("color", "escapes"), [("1", True), ("0", False)])
def test_the_color_setting(fleet: LocalCollective, color: str, escapes: bool,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``color = 0`` turns colour off even where rich would use it (FORCE_COLOR stands
    in for a terminal here); ``color = 1`` leaves it on."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    config = fleet.write_client_config(f"color{color}.cfg", color=color)
    proc = fleet.mco("rpc", "rpcutil", "nosuch", config=config)
    assert proc.returncode == 1
    assert "not declared in the DDL" in proc.stderr
    assert ("\x1b[" in proc.stderr) is escapes
