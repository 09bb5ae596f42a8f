"""What ``mco rpc`` prints, from the real ``mco`` against real ``mcollectived``
processes: DDL labels, summaries, the closing line, and every output mode."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from fleet import FLEET, ok, start_fleet

from mcollective.testing import LocalCollective
from mcollective.testing.collective import _script

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
    assert (doc["agent"], doc["action"]) == ("rpcutil", "get_fact")
    assert sorted(r["sender"] for r in doc["replies"]) == ALL
    assert {r["sender"]: r["data"]["value"] for r in doc["replies"]} == {
        ident: facts["cpus"] for ident, (facts, _) in FLEET.items()}
    stats = doc["request_stats"]
    assert stats["no_responses"] == [] and stats["responses"] == stats["discovered"] == 3
    assert doc["summaries"]["results"][0]["function"] == "summary"


def test_json_format_mcollective_keeps_the_bare_array(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=cpus", "--json-format",
                        "mcollective"))
    doc = json.loads(proc.stdout)
    assert sorted(r["sender"] for r in doc) == ALL
    config = fleet.write_client_config("array.cfg", json_format="mcollective")
    proc = ok(fleet.mco("rpc", "rpcutil", "ping", "-j", config=config))
    assert isinstance(json.loads(proc.stdout), list)  # the site's default


def test_json_output_feeds_stdin_discovery(fleet: LocalCollective) -> None:
    for fmt in ("choria", "mcollective"):
        doc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=role", "-F", "role=web",
                           "--json-format", fmt)).stdout
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
    assert proc.returncode == 5  # every reply OK, but a targeted node was silent
    assert "Finished processing 1 / 2 hosts" in proc.stdout
    assert "No response from:" in proc.stdout and "ghost.example.net" in proc.stdout


def test_a_script_learns_from_json_and_exit_code_that_a_node_did_not_answer(
        fleet: LocalCollective) -> None:
    proc = fleet.mco("rpc", "rpcutil", "ping", "-I", "web1.example.net", "-I",
                     "ghost.example.net", "-t", "1", "-j")
    assert proc.returncode == 5, proc.stderr
    stats = json.loads(proc.stdout)["request_stats"]
    assert stats["no_responses"] == ["ghost.example.net"] and stats["exit_code"] == 5
    assert stats["discovered_nodes"] == ["web1.example.net", "ghost.example.net"]
    nobody = fleet.mco("rpc", "rpcutil", "ping", "-I", "ghost.example.net", "-t", "1")
    assert nobody.returncode == 3


def test_argument_errors_exit_1(fleet: LocalCollective) -> None:
    for argv in (("rpc", "rpcutil", "ping", "--no-such-option"),
                 ("rpc", "rpcutil", "ping", "--limit", "0"),
                 ("rpc", "rpcutil", "ping", "-j", "--table"),
                 ("ping", "--expect", "many"),
                 ("ping", "--expect", "0"),
                 ("rpc", "rpcutil", "ping", "--json-format", "yaml")):
        proc = fleet.mco(*argv)
        assert proc.returncode == 1, (argv, proc.stderr)
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    proc = fleet.mco("rpc", "rpcutil", "ping", "--json-format", "choria", "--table")
    assert proc.returncode == 1 and "cannot be combined with --table" in proc.stderr


def test_sort_and_output_file(fleet: LocalCollective, tmp_path: Path) -> None:
    target = tmp_path / "replies.json"
    proc = ok(fleet.mco("rpc", "rpcutil", "ping", "-j", "--sort", "-o", str(target)))
    assert proc.stdout == ""
    assert [r["sender"] for r in json.loads(target.read_text())["replies"]] == ALL
    proc = fleet.mco("rpc", "rpcutil", "ping", "-o", str(tmp_path / "no" / "such.txt"))
    assert proc.returncode == 1 and "cannot write the output file" in proc.stderr
    assert "Discovering" not in proc.stderr  # refused before anything was sent


def test_filter_replies(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=cpus", "-j",
                        "--filter-replies", 'ok() && data("value") > 8'))
    doc = json.loads(proc.stdout)
    assert sorted(r["sender"] for r in doc["replies"]) == ["db1.example.net",
                                                           "web2.example.net"]
    assert doc["request_stats"]["responses"] == 3  # all answered; two are shown
    proc = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=country", "--senders",
                        "--filter-replies", 'sender() matches "^web" and '
                                            'data("value") in ["uk", "fr"]'))
    assert proc.stdout == "web1.example.net\n"
    mistake = fleet.mco("rpc", "rpcutil", "ping", "--filter-replies", "ok() &&")
    assert mistake.returncode == 1 and "cannot parse --filter-replies" in mistake.stderr
    assert "Discovering" not in mistake.stderr


def test_mcollective_compatibility_flags_are_accepted(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("rpc", "rpcutil", "ping", "--threaded", "--publish_timeout", "5"))
    assert "Finished processing 3 / 3 hosts" in proc.stdout
    bad = fleet.mco("rpc", "rpcutil", "ping", "--publish_timeout=-1")
    assert bad.returncode == 1 and "must not be negative" in bad.stderr


def test_ping_graph_and_silent_listed_nodes(fleet: LocalCollective, tmp_path: Path
                                            ) -> None:
    out = ok(fleet.mco("ping", "--graph")).stdout.splitlines()
    assert out[-3].startswith("3 replies max:")
    assert out[-2] and set(out[-2]) <= set("▁▂▃▄▅▆▇█") and out[-2][-1] == "█"
    assert out[-1].startswith("(0 to ") and "ms per character)" in out[-1]
    config = fleet.write_client_config("graph.cfg", **{"plugin.rpc.graph": "1"})
    graphed = ok(fleet.mco("ping", config=config)).stdout.splitlines()
    assert graphed[-1].startswith("(0 to ") and graphed[-2][-1] == "█"
    listed = tmp_path / "nodes.txt"
    listed.write_text("web1.example.net\nghost.example.net\n")
    silent = fleet.mco("ping", "--nodes", str(listed), "-t", "1")
    assert silent.returncode == 5 and "ghost.example.net" in silent.stdout


def test_misspelt_agent_fails_before_anything_is_sent(fleet: LocalCollective) -> None:
    started = time.monotonic()
    proc = fleet.mco("rpc", "rpcutill", "ping", "-I", "web1.example.net", "-t", "30")
    assert proc.returncode == 1
    assert "unknown agent 'rpcutill'" in proc.stderr and "did you mean 'rpcutil'?" in \
        proc.stderr
    assert "Discovering" not in proc.stderr
    assert time.monotonic() - started < 25  # did not wait for the 30 s timeout
    # A name like no installed agent goes out as typed; silence gets a likely reason.
    proc = fleet.mco("rpc", "zzz_elsewhere", "status", "-I", "web1.example.net", "-t", "1")
    assert proc.returncode == 3
    assert "agent 'zzz_elsewhere' has no DDL here; the nodes that did not answer may " \
           "not have it" in proc.stderr


def test_output_into_a_closed_pipe_exits_quietly(fleet: LocalCollective) -> None:
    """``mco ... | head -1``: the reader goes away; no traceback, SIGPIPE's code."""
    cmd = [*_script("mco"), "rpc", "-c", str(fleet.client_config), "rpcutil", "inventory",
           "--display", "all"]
    proc = subprocess.run(f"{shlex.join(cmd)} 2>{shlex.quote(str(fleet.root / 'err'))} "
                          "| head -1; echo \"rc=${PIPESTATUS[0]}\"", shell=True,
                          executable="/bin/bash", env=fleet.env(), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert proc.stdout.rstrip().endswith("rc=141"), proc.stdout
    err = (fleet.root / "err").read_text()
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_arguments_that_are_not_utf8_are_refused(fleet: LocalCollective) -> None:
    cmd = [*(os.fsencode(c) for c in _script("mco")), b"rpc", b"-c",
           os.fsencode(fleet.client_config), b"rpcutil", b"get_fact", b"fact=\xff"]
    proc = subprocess.run(cmd, env=fleet.env(), capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 1
    assert b"argument 'fact=\\xff' is not valid UTF-8" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_output_that_cannot_be_written_is_one_line(fleet: LocalCollective) -> None:
    """A full device (``> /dev/full``, ``-o /dev/full``) and a closed stdout
    (``>&-``): a one-line error or nothing, never a traceback."""
    mco = shlex.join([*_script("mco"), "rpc", "-c", str(fleet.client_config), "rpcutil",
                      "ping"])
    for redirect, code, message in (
            ("> /dev/full", 1, "mco: cannot write the output: No space left on device"),
            ("-o /dev/full", 1, "mco rpc: cannot write the output file /dev/full: No space"),
            (">&-", 0, "")):
        proc = subprocess.run(f"{mco} {redirect}", shell=True, executable="/bin/bash",
                              env=fleet.env(), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120, check=False)
        assert proc.returncode == code, (redirect, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.count("cannot write") == (1 if message else 0)
