"""What ``mco rpc`` prints, from the real ``mco`` against real ``mcollectived``
processes: DDL labels, summaries, the closing line, and every output mode."""

from __future__ import annotations

import json

import pytest
from fleet import FLEET, ok, start_fleet

from mcollective.testing import LocalCollective

ALL = sorted(FLEET)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    collective = LocalCollective(tmp_path_factory.mktemp("output"))
    try:
        yield start_fleet(collective)
    finally:
        collective.stop_all()


def test_text_results_summary_and_closing_line(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=country"))
    out = proc.stdout
    assert "Discovering hosts using the mc method" in proc.stderr
    for identity in ALL:
        assert f"\n{identity}\n" in out
    assert out.count("   Value: uk") == 2 and "    Fact: country" in out
    assert "Summary of Value:\n\n   uk = 2\n   de = 1\n" in out
    assert out.rstrip().splitlines()[-1].startswith("Finished processing 3 / 3 hosts in ")
    assert "\x1b[" not in out  # no colour codes in a pipe


def test_array_outputs_are_summarised_element_wise(fleet: LocalCollective) -> None:
    out = ok(fleet.mco("rpc", "rpcutil", "daemon_stats", "--display", "none")).stdout
    assert "Summary of Agents:" in out and "rpcutil = 3" in out
    assert "\nweb1.example.net\n" not in out  # --display none: no per-node results


def test_json_is_one_document_with_every_reply(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=cpus", "-j"))
    doc = json.loads(proc.stdout)
    assert sorted(r["sender"] for r in doc) == ALL
    assert {r["sender"]: r["data"]["value"] for r in doc} == {
        ident: facts["cpus"] for ident, (facts, _) in FLEET.items()}


def test_json_output_feeds_stdin_discovery(fleet: LocalCollective) -> None:
    doc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=role", "-F", "role=web",
                       "-j")).stdout
    proc = fleet.mco("rpc", "rpcutil", "ping", "--dm", "stdin", "--senders", input=doc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["web1.example.net", "web2.example.net"]


def test_jsonl_one_line_per_event(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=country", "--jsonl"))
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["kind"] for e in events] == ["discovery", "result", "result", "result",
                                           "summaries", "stats"]
    assert sorted(e["sender"] for e in events if e["kind"] == "result") == ALL
    assert events[4]["results"][0]["value"] == {"uk": 2, "de": 1}
    assert events[5]["responses"] == 3 and events[5]["exit_code"] == 0


def test_table_and_senders(fleet: LocalCollective) -> None:
    table = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=role", "--table")).stdout
    header = next(line for line in table.splitlines() if "Sender" in line)
    assert [c.strip() for c in header.split("|")] == ["Sender", "Fact", "Value"]
    assert any(line.startswith(" db1.example.net ") and "| db " in line
               for line in table.splitlines())
    senders = ok(fleet.mco("rpc", "rpcutil", "ping", "-F", "country=uk", "--senders"))
    assert senders.stdout == "db1.example.net\nweb1.example.net\n"


def test_failures_show_status_label_and_message(fleet: LocalCollective) -> None:
    proc = fleet.mco("rpc", "rpcutil", "get_config_item", "item=nope", "-I",
                     "web1.example.net")
    assert proc.returncode == 2
    assert "web1.example.net".ljust(40) + "Request Aborted" in proc.stdout
    assert "   Unknown config property nope" in proc.stdout


def test_verbose_stats_block(fleet: LocalCollective) -> None:
    out = ok(fleet.mco("rpc", "rpcutil", "ping", "-v")).stdout
    assert "---- rpcutil#ping call stats ----" in out
    for label in ("Nodes: 3 / 3", "Pass / Fail: 3 / 0", "Discovery Time:", "Agent Time:",
                  "Total Time:"):
        assert label in out


def test_no_response_list(fleet: LocalCollective) -> None:
    proc = fleet.mco("rpc", "rpcutil", "ping", "-I", "web1.example.net", "-I",
                     "ghost.example.net", "-t", "1")
    assert proc.returncode == 0  # discovered and every reply OK: silence is listed
    assert "Finished processing 1 / 2 hosts" in proc.stdout
    assert "No response from:" in proc.stdout and "ghost.example.net" in proc.stdout
