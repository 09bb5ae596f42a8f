"""The building blocks of ``mco rpc`` output: per-node text, summaries, stats, table,
senders, JSON lines and the progress bar."""

from __future__ import annotations

import argparse
import io
import json

import pytest
from rich.console import Console

from mcollective.aggregate import AggregateResult, SummaryFailure, SummaryReport
from mcollective.cli import output
from mcollective.client.results import Result, RPCStats
from mcollective.ddl import action_ddl, output_item

ACTION = action_ddl("status", "status", outputs=[
    output_item("ensure", description="version", display_as="Installed Version"),
    output_item("arch", description="arch", display_as="Arch"),
    output_item("files", description="files", display_as="Files"),
])


def console(terminal: bool = False) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=120, highlight=False,
                   color_system=None if not terminal else "standard"), buf


def res(sender: str, code: int = 0, data: object = None, msg: str = "OK") -> Result:
    return Result(sender, code, msg, {} if data is None else data, "package", "status")


def stats(discovered: list[str], responded: list[str], failed: int = 0) -> RPCStats:
    st = RPCStats(discovered_nodes=discovered, discovery_performed=True, blocktime=0.0123)
    st.responded = list(responded)
    st.okcount, st.failcount = len(responded) - failed, failed
    return st


@pytest.mark.parametrize(("display", "ok", "failed"), [
    ("ok", True, False), ("failed", False, True), ("always", True, True),
    ("all", True, True), ("none", False, False)])
def test_display_modes(display: str, ok: bool, failed: bool) -> None:
    assert output.wants(res("a"), display) is ok
    assert output.wants(res("a", 1), display) is failed


def test_mode_of_picks_the_chosen_output_mode() -> None:
    assert output.mode_of(argparse.Namespace(json=False, jsonl=True)) == "jsonl"
    assert output.mode_of(argparse.Namespace()) == "text"


def test_a_result_prints_labels_right_aligned_and_multi_line_values_aligned() -> None:
    con, buf = console()
    output.print_result(con, res("web1", data={"ensure": "1.2", "files": ["a", "b"],
                                              "other": True}), ACTION)
    assert buf.getvalue().splitlines() == [
        "web1",
        "   Installed Version: 1.2",
        "               Files: [",
        '                        "a",',
        '                        "b"',
        "                      ]",
        "               other: true",
        "",
    ]


def test_a_failure_prints_its_status_label_and_message_but_no_data() -> None:
    con, buf = console()
    output.print_result(con, res("web1", 4, {"ensure": "x"}, "bad input 'package'"), ACTION)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "web1".ljust(40) + "Invalid Request Data"
    assert lines[1] == "   bad input 'package'"
    assert "Installed Version" not in buf.getvalue()


def test_verbose_prints_raw_data() -> None:
    con, buf = console()
    output.print_result(con, res("web1", data={"ensure": "1"}), ACTION, verbose=True)
    assert '"ensure": "1"' in buf.getvalue()


def test_summary_line_and_its_colour() -> None:
    con, buf = console()
    output.print_summary(con, stats(["a", "b"], ["a", "b"]))
    assert buf.getvalue().strip() == "Finished processing 2 / 2 hosts in 12.30 ms"
    assert output.summary_style(stats(["a", "b"], ["a", "b"])) == "green"
    assert output.summary_style(stats(["a", "b"], ["a"])) == "yellow"
    assert output.summary_style(stats(["a", "b"], [])) == "red"


def test_no_response_and_unexpected_lists() -> None:
    con, buf = console()
    st = stats(["a", "b", "c"], ["a", "z"])
    st.unexpectedresponsefrom = ["z"]
    output.print_summary(con, st)
    text = buf.getvalue()
    assert "No response from:" in text and "   b                             c" in text
    assert "Unexpected response from:" in text and "   z" in text


def test_verbose_stats_block() -> None:
    con, buf = console()
    output.print_summary(con, stats(["a", "b"], ["a"], failed=1), verbose=True,
                         caption="package#status call stats")
    text = buf.getvalue()
    assert "---- package#status call stats ----" in text
    for line in ("               Nodes: 2 / 1", "         Pass / Fail: 0 / 1",
                 "        No Responses: 1", "          Agent Time: 12.30ms"):
        assert line in text.splitlines()
    assert "No response from:" in text


def test_aggregates_print_results_failures_and_skips() -> None:
    con, buf = console()
    report = SummaryReport(
        results=[AggregateResult("ensure", "summary", "collection", {"1.0": 2, "10.0": 1}),
                 AggregateResult("arch", "summary", "collection", {})],
        failures=[SummaryFailure("files", "average", "process", "'files' is not a number")],
        skipped=[("nagios_states", "arch")])
    output.print_aggregates(con, report, ACTION)
    assert buf.getvalue().splitlines() == [
        "Summary of Installed Version:", "", "    1.0 = 2", "   10.0 = 1", "",
        "Summary of Arch:", "", "   No aggregate summary could be computed", "",
        "Summary of Files:", "", "   Could not compute summary - 'files' is not a number",
        "",
        "Summary of Arch skipped: no 'nagios_states' aggregate plugin is installed", ""]


def test_nothing_printed_without_summaries() -> None:
    con, buf = console()
    output.print_aggregates(con, SummaryReport(), ACTION)
    output.print_aggregates(con, None, ACTION)
    assert buf.getvalue() == ""


def test_table_has_one_column_per_output_and_only_ok_rows() -> None:
    con, buf = console()
    output.print_table(con, [res("web1", data={"ensure": "1.0", "arch": "x86_64",
                                               "files": {"n": 1}}),
                             res("web2", 1, msg="broken")], ACTION)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    assert lines[0].split("|") == [" Sender ", " Installed Version ", " Arch   ", " Files"]
    assert lines[2].split("|") == [" web1   ", " 1.0               ", " x86_64 ",
                                   ' {"n": 1}']
    assert "web2" not in buf.getvalue()


def test_table_without_ddl_uses_the_keys_it_sees() -> None:
    assert output.table_columns([res("a", data={"x": 1}), res("b", data={"y": 2, "x": 3})],
                                None) == ["x", "y"]


def test_senders_lists_ok_responders_once_sorted() -> None:
    con, buf = console()
    output.print_senders(con, [res("web2"), res("web1"), res("db1", 1), res("web1")])
    assert buf.getvalue() == "web1\nweb2\n"


def test_json_document_is_compact_in_a_pipe() -> None:
    con, buf = console()
    output.dump_json(con, output.results_json([res("web1", data={"a": 1})]))
    assert json.loads(buf.getvalue()) == [{"sender": "web1", "statuscode": 0,
                                           "statusmsg": "OK", "data": {"a": 1},
                                           "agent": "package", "action": "status"}]
    assert buf.getvalue().count("\n") == 1


def test_json_lines_one_object_per_event() -> None:
    buf = io.StringIO()
    lines = output.JsonLines(buf)
    lines.discovery(agent="package", action="status", method="mc", nodes=["a"],
                    seconds=0.5)
    lines.result(res("a", data={"x": 1}))
    lines.summaries(SummaryReport(results=[AggregateResult("x", "sum", "numeric", 1)]))
    lines.stats(stats(["a"], ["a"]))
    lines.error("boom")
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [e["kind"] for e in events] == ["discovery", "result", "summaries", "stats",
                                           "error"]
    assert events[0]["count"] == 1 and events[1]["sender"] == "a"
    assert events[2]["results"][0]["value"] == 1
    assert events[3]["exit_code"] == 0 and events[4]["message"] == "boom"


def test_progress_is_a_no_op_off_a_terminal() -> None:
    con, buf = console()
    with output.reply_progress(con, 3, enabled=True) as advance:
        advance()
    assert buf.getvalue() == ""


def test_progress_on_a_terminal_draws_and_then_erases_itself() -> None:
    con, buf = console(terminal=True)
    with output.reply_progress(con, 2, enabled=True) as advance:
        advance()
        advance()
    con.print("after")
    text = buf.getvalue()
    assert "2/2" in text  # the bar was drawn with its count...
    assert text.rstrip().endswith("after")  # ...and the results print on a clean line


def test_progress_disabled_by_np() -> None:
    con, buf = console(terminal=True)
    with output.reply_progress(con, 2, enabled=False) as advance:
        advance()
    assert buf.getvalue() == ""


def test_progress_makes_its_console_only_when_it_starts() -> None:
    """mco rpc hands a console factory: rich is imported once the request is out."""
    con, buf = console(terminal=True)
    made: list[int] = []

    def factory() -> Console:
        made.append(1)
        return con

    with output.reply_progress(factory, 2, enabled=True) as progress:
        assert made == []
        progress.start()
        progress()
        progress()
    assert made == [1] and "2/2" in buf.getvalue()
