"""``mco rpc`` output modes end to end in one process: real daemons, the real Rpc
application, an agent whose DDL (built with ``@action``) declares summaries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from collective_helpers import Nodes, nodes, run_app

from mcollective.agent import Agent, AgentReply, AgentRequest, Output, action
from mcollective.cli.apps.rpc import Rpc

FLEET = {"n1": ("1.0", 0.5, True), "n2": ("1.0", 1.5, False), "n3": ("2.0", 1.0, True)}


class Fleetinfo(Agent):
    """Reports made-up node facts, with every kind of summary."""

    agent_name = "fleetinfo"
    metadata = {"timeout": 3}

    @action(display="ok", outputs={
        "version": Output("Version", display_as="Version"),
        "load": Output("Load", display_as="Load Average"),
        "enabled": Output("Enabled", display_as="Enabled"),
    }, aggregates=[
        ("summary", "version"),
        ("average", "load", {"format": "Average load: %.1f"}),
        ("boolean_summary", "enabled", {"true": "on", "false": "off"}),
        ("sum", "enabled"),  # booleans are not numbers: a per-output failure
        ("nagios_states", "version"),  # Ruby-only: skipped with a note
    ])
    def report(self, request: AgentRequest, reply: AgentReply, *,
               fail_on: str = "") -> None:
        """Report this node."""
        version, load, enabled = FLEET[self.context.identity]
        reply.update(version=version, load=load, enabled=enabled)
        if self.context.identity == fail_on:
            reply.fail("degraded on purpose")


@pytest.fixture(scope="module")
def env() -> Iterator[Nodes]:
    with nodes(*FLEET, agents={"fleetinfo": Fleetinfo}) as collective:
        yield collective


def rpc(env: Nodes, *args: str, fail_on: str = "") -> Any:
    inputs = [f"fail_on={fail_on}"] if fail_on else []
    return run_app(Rpc, env, "fleetinfo", "report", *inputs, "--dt", "2", *args)


def test_text_output_labels_summaries_and_summary_line(env: Nodes) -> None:
    run = rpc(env)
    assert run.code == 0, run.err
    assert "Discovering hosts using the mc method" in run.err
    out = run.out
    for ident in FLEET:
        assert f"\n{ident}\n" in out
    assert out.count("        Version: 1.0") == 2 and "   Load Average: 1.5" in out
    assert "Summary of Version:\n\n   1.0 = 2\n   2.0 = 1\n" in out
    assert "Summary of Load Average:\n\n   Average load: 1.0\n" in out
    assert "Summary of Enabled:\n\n    on = 2\n   off = 1\n" in out
    assert "Could not compute summary - 'enabled' is a boolean, not a number" in out
    assert "Summary of Version skipped: no 'nagios_states' aggregate plugin" in out
    assert out.rstrip().splitlines()[-1].startswith("Finished processing 3 / 3 hosts in ")
    # Results, then summaries, then the closing line (reference §1.4).
    assert out.index("n3\n") < out.index("Summary of") < out.index("Finished processing")


def test_display_follows_the_ddl_and_the_option(env: Nodes) -> None:
    run = rpc(env, fail_on="n2")
    assert run.code == 2
    assert "\nn2\n" not in run.out and "n2".ljust(40) not in run.out  # DDL: ok only
    failed = rpc(env, "--display", "failed", fail_on="n2").out
    assert "n2".ljust(40) + "Request Aborted" in failed
    assert "   degraded on purpose" in failed and "\nn1\n" not in failed
    every = rpc(env, "--display", "all", fail_on="n2").out
    assert "\nn1\n" in every and "n2".ljust(40) + "Request Aborted" in every
    none = rpc(env, "--display", "none").out
    assert "\nn1\n" not in none and "Summary of Version:" in none
    assert "Finished processing 3 / 3" in none


def test_json_is_choria_object_with_stats_and_summaries(env: Nodes) -> None:
    run = rpc(env, "-j", fail_on="n2")
    assert run.code == 2 and "Discovering" not in run.err
    doc = json.loads(run.out)
    assert set(doc) == {"agent", "action", "replies", "request_stats", "summaries"}
    assert (doc["agent"], doc["action"]) == ("fleetinfo", "report")
    assert sorted(r["sender"] for r in doc["replies"]) == sorted(FLEET)
    assert set(doc["replies"][0]) == {"sender", "statuscode", "statusmsg", "data",
                                      "agent", "action"}
    stats = doc["request_stats"]
    assert (stats["discovered"], stats["responses"], stats["ok"], stats["failed"]) == (
        3, 3, 2, 1)
    assert stats["no_responses"] == [] and stats["exit_code"] == 2
    assert isinstance(stats["request_time"], int) and stats["start_time_utc"].endswith("Z")
    assert {r["output"]: r["value"] for r in doc["summaries"]["results"]
            if r["function"] == "summary"} == {"version": {"1.0": 2, "2.0": 1}}


def test_json_format_mcollective_is_the_bare_array(env: Nodes) -> None:
    run = rpc(env, "--json-format", "mcollective")  # implies -j
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert sorted(r["sender"] for r in doc) == sorted(FLEET)
    assert set(doc[0]) == {"sender", "statuscode", "statusmsg", "data", "agent", "action"}


def test_json_sort_orders_replies_by_sender(env: Nodes) -> None:
    doc = json.loads(rpc(env, "-j", "--sort").out)
    assert [r["sender"] for r in doc["replies"]] == sorted(FLEET)
    lines = [json.loads(x) for x in rpc(env, "--jsonl", "--sort").out.splitlines()]
    assert [e["sender"] for e in lines if e["kind"] == "result"] == sorted(FLEET)


def test_filter_replies_shows_only_matching_replies(env: Nodes) -> None:
    run = rpc(env, "-j", "--filter-replies", 'ok() && data("version") == "1.0"',
              fail_on="n2")
    doc = json.loads(run.out)
    assert [r["sender"] for r in doc["replies"]] == ["n1"]
    # Every reply still counts as an answer: nobody is listed as silent.
    assert doc["request_stats"]["responses"] == 3 and doc["request_stats"]["no_responses"] == []
    assert {r["output"]: r["value"] for r in doc["summaries"]["results"]
            if r["function"] == "summary"} == {"version": {"1.0": 1}}
    text = rpc(env, "--display", "all", "--filter-replies", "aborted()", fail_on="n2")
    assert "n2".ljust(40) + "Request Aborted" in text.out and "\nn1\n" not in text.out
    senders = rpc(env, "--senders", "--filter-replies", 'include(["n1", "n3"], sender())')
    assert senders.out == "n1\nn3\n"


def test_filter_replies_that_cannot_be_evaluated_are_reported(env: Nodes) -> None:
    run = rpc(env, "-j", "--filter-replies", 'data("load") > "x"')
    assert json.loads(run.out)["replies"] == []
    assert "3 replies left out by --filter-replies: cannot compare a number with a " \
           "string using >" in run.err


def test_jsonl_streams_events(env: Nodes) -> None:
    run = rpc(env, "--jsonl", fail_on="n3")
    assert run.code == 2 and run.err == ""
    events = [json.loads(line) for line in run.out.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds == ["discovery", "result", "result", "result", "summaries", "stats"]
    assert events[0]["count"] == 3 and sorted(events[0]["nodes"]) == sorted(FLEET)
    assert {e["sender"]: e["statuscode"] for e in events[1:4]} == {"n1": 0, "n2": 0,
                                                                   "n3": 1}
    summaries = events[4]
    assert {r["output"]: r["value"] for r in summaries["results"]
            if r["function"] == "summary"} == {"version": {"1.0": 2, "2.0": 1}}
    assert summaries["failures"][0]["function"] == "sum"
    assert summaries["skipped"] == [{"function": "nagios_states", "output": "version"}]
    assert events[5]["okcount"] == 2 and events[5]["exit_code"] == 2


def test_table_shows_outputs_as_columns_and_failures_below(env: Nodes) -> None:
    assert "Request Aborted" not in rpc(env, "--table", fail_on="n1").out  # DDL: ok only
    run = rpc(env, "--table", "--display", "all", fail_on="n1")
    lines = run.out.splitlines()
    header = next(line for line in lines if "Sender" in line)
    assert [c.strip() for c in header.split("|")] == ["Sender", "Version", "Load Average",
                                                      "Enabled"]
    rows = [line for line in lines if line.startswith(" n")]
    assert [r.split("|")[0].strip() for r in rows] == ["n2", "n3"]
    assert "n1".ljust(40) + "Request Aborted" in run.out
    assert "Summary of Version:" in run.out and "Finished processing 3 / 3" in run.out


def test_senders_prints_only_ok_identities(env: Nodes) -> None:
    run = rpc(env, "--senders", fail_on="n2")
    assert run.out == "n1\nn3\n" and run.code == 2


def test_verbose_prints_the_stats_block(env: Nodes) -> None:
    out = rpc(env, "-v").out
    assert "---- fleetinfo#report call stats ----" in out
    assert "Nodes: 3 / 3" in out and "Discovery Time:" in out and "Total Time:" in out


def test_nothing_discovered(env: Nodes) -> None:
    run = rpc(env, "-F", "country=nowhere")
    assert run.code == 1 and "No request sent, we did not discover any nodes." in run.err
    as_json = rpc(env, "-F", "country=nowhere", "-j")
    doc = json.loads(as_json.out)
    assert doc["replies"] == [] and doc["request_stats"]["discovered"] == 0
    assert as_json.code == 1
    as_array = rpc(env, "-F", "country=nowhere", "--json-format", "mcollective")
    assert json.loads(as_array.out) == [] and as_array.code == 1
    lines = [json.loads(x) for x in rpc(env, "-F", "country=nowhere", "--jsonl")
             .out.splitlines()]
    assert [e["kind"] for e in lines] == ["discovery", "error"]
    assert lines[0]["count"] == 0 and "did not discover" in lines[1]["message"]


def test_output_modes_are_mutually_exclusive(env: Nodes) -> None:
    with pytest.raises(SystemExit) as exc:
        rpc(env, "-j", "--table")
    assert exc.value.code == 1  # a usage error, not "some nodes failed" (2)

