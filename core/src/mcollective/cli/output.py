"""Rendering RPC results the way ``mco rpc`` users know them (reference §1.4), plus the
machine-readable modes Choria added (``--jsonl``, ``--table``, ``--senders``).

Text goes through a :class:`rich.console.Console`: colours and the progress bar only
where the console is a terminal, plain text in pipes and files. rich is imported when
the first line is rendered, not with this module: the request is on its way by then
(issue 14: rich is a tenth of ``mco``'s start-up). Every function here
takes the console to print on, so applications and tests choose where output goes.
The modes and their formats are documented in ``docs/output.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from mcollective.errors import STATUS_LABELS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from mcollective.aggregate import SummaryReport
    from mcollective.client.results import Result, RPCStats
    from mcollective.ddl import ActionDDL


def rich_text(text: str = "", style: str = "") -> Text:
    """A rich ``Text`` (rich imported on first use)."""
    from rich.text import Text

    return Text(text, style=style)


STATUS_STYLE = {1: "red", 2: "yellow", 3: "yellow", 4: "yellow", 5: "red"}

#: Output modes of ``mco rpc``, in the order their options are checked.
MODES = ("json", "jsonl", "table", "senders")


def mode_of(args: Any) -> str:
    """The output mode chosen on the command line: one of :data:`MODES` or ``text``
    (``--json-format`` means ``-j``, and cannot be mixed with another mode)."""
    chosen = [mode for mode in MODES if getattr(args, mode, False)]
    if getattr(args, "json_format", None):
        others = [m for m in chosen if m != "json"]
        if others:
            from mcollective.errors import MCollectiveError

            raise MCollectiveError(f"--json-format chooses what -j prints; it cannot be "
                                   f"combined with --{others[0]}")
        return "json"
    return chosen[0] if chosen else "text"


def json_format_of(args: Any, config: Any = None) -> str:
    """``choria`` or ``mcollective``: ``--json-format``, else the ``json_format``
    setting, else ``choria``."""
    chosen = getattr(args, "json_format", None)
    if chosen:
        return str(chosen)
    configured = getattr(config, "json_format", None) if config is not None else None
    return str(configured or "choria")


# --- per-node text --------------------------------------------------------------------------


def wants(result: Result, display: str) -> bool:
    """Whether ``display`` (DDL ``ok``/``failed``/``always`` or ``--display``'s ``all``/
    ``none``) shows this result."""
    if display in ("all", "always"):
        return True
    if display == "none":
        return False
    if display == "ok":
        return result.statuscode == 0
    return result.statuscode != 0


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def print_result(console: Console, result: Result, action: ActionDDL | None, *,
                 verbose: bool = False) -> None:
    """One node: identity, status label and message, then its data under DDL labels
    (raw with ``verbose``), then a blank line."""
    line = rich_text(result.sender)
    if result.statuscode:
        line = rich_text(result.sender.ljust(40))
        line.append(STATUS_LABELS.get(result.statuscode, "Unknown Request Status"),
                    style=STATUS_STYLE.get(result.statuscode, "red"))
    console.print(line)
    if result.statusmsg and result.statusmsg != "OK":
        console.print(rich_text("   " + result.statusmsg, style="yellow"))
    if verbose and result.statuscode <= 1:
        console.print(rich_text(format_value(result.data)), markup=False)
    elif result.statuscode == 0:
        print_data(console, result.data, action)
    console.print()


def label_for(key: str, action: ActionDDL | None) -> str:
    """An output's ``display_as`` label, falling back to its name."""
    out = action.outputs.get(key) if action is not None else None
    return out.display_as if out is not None and out.display_as else key


def print_data(console: Console, data: Any, action: ActionDDL | None) -> None:
    if not isinstance(data, dict):
        console.print(rich_text("\t" + format_value(data)))
        return
    if not data:
        return
    labels = {key: label_for(key, action) for key in data}
    width = max(len(v) for v in labels.values())
    for key in sorted(data):
        label = labels[key].rjust(width + 3)
        text = format_value(data[key])
        pad = " " * (len(label) + 2)
        first, *rest = text.split("\n") or [""]
        console.print(rich_text(f"{label}: {first}"), markup=False)
        for more in rest:
            console.print(rich_text(pad + more), markup=False)


def columns(names: Sequence[str], width: int = 90) -> list[str]:
    """Names laid out in columns of at least 30 characters within ``width``."""
    if not names:
        return []
    colw = max(30, max(len(n) for n in names) + 2)
    per_line = max(1, width // colw)
    return ["".join(n.ljust(colw) for n in names[i:i + per_line]).rstrip()
            for i in range(0, len(names), per_line)]


# --- aggregates -----------------------------------------------------------------------------


def print_aggregates(console: Console, report: SummaryReport | None,
                     action: ActionDDL | None) -> None:
    """``Summary of <display_as>:`` blocks, then failures and skipped functions.

    A summary that could not be computed says why (``Could not compute summary -
    <reason>``); one whose plugin is not installed (Ruby-only functions such as
    ``nagios_states``) gets a one-line note, so the user knows it was not forgotten.
    """
    if not report:
        return
    from mcollective.aggregate import AggregateError

    for res in report.results:
        console.print(rich_text(f"Summary of {label_for(res.output, action)}:", style="bold"))
        console.print()
        try:
            lines = res.lines()
        except AggregateError as exc:  # report() checks this; a custom caller may not
            console.print(rich_text(f"   Could not compute summary - {exc}", style="yellow"))
            lines = None
        if lines == []:
            console.print(rich_text("   No aggregate summary could be computed", style="yellow"))
        for line in lines or ():
            console.print(rich_text("   " + line), markup=False)
        console.print()
    for failure in report.failures:
        console.print(rich_text(f"Summary of {label_for(failure.output, action)}:", style="bold"))
        console.print()
        console.print(rich_text(f"   Could not compute summary - {failure.reason}",
                           style="yellow"))
        console.print()
    for function, out in report.skipped:
        console.print(rich_text(f"Summary of {label_for(out, action)} skipped: no '{function}' "
                           "aggregate plugin is installed", style="dim"))
    if report.skipped:
        console.print()


# --- the closing statistics -------------------------------------------------------------------


def summary_style(stats: RPCStats) -> str:
    """Choria's colours: green when every discovered node answered, yellow when some
    did, red when none did."""
    if not stats.responses:
        return "red"
    if stats.discovery_performed and stats.responses < stats.discovered:
        return "yellow"
    return "green"


def print_summary(console: Console, stats: RPCStats, *, verbose: bool = False,
                  caption: str = "rpc stats") -> None:
    """``Finished processing R / D hosts in T ms`` (or, with ``verbose``, the stats
    block), then the no-response and unexpected-response lists."""
    if verbose:
        rows = [
            ("Nodes", f"{stats.discovered} / {stats.responses}"),
            ("Pass / Fail", f"{stats.okcount} / {stats.failcount}"),
            ("No Responses", str(len(stats.noresponsefrom))),
            ("Unexpected Responses", str(len(set(stats.unexpectedresponsefrom)))),
            ("Start Time", time.strftime("%Y-%m-%d %H:%M:%S %z",
                                         time.localtime(stats.starttime))),
            ("Discovery Time", f"{stats.discoverytime * 1000:.2f}ms"),
            ("Publish Time", f"{stats.publishtime * 1000:.2f}ms"),
            ("Agent Time", f"{stats.blocktime * 1000:.2f}ms"),
            ("Total Time", f"{stats.totaltime * 1000:.2f}ms"),
        ]
        width = max(len(label) for label, _ in rows)
        console.print(rich_text(f"---- {caption} ----", style="yellow"))
        for label, value in rows:
            console.print(f"{label.rjust(width)}: {value}", markup=False, highlight=False)
    else:
        agent_ms = stats.blocktime * 1000
        if stats.discovery_performed:
            text = (f"Finished processing {stats.responses} / {stats.discovered} hosts in "
                    f"{agent_ms:.2f} ms")
        else:
            text = f"Finished processing {stats.responses} hosts in {agent_ms:.2f} ms"
        console.print(rich_text(text, style=summary_style(stats)))
    print_node_lists(console, stats)


def print_node_lists(console: Console, stats: RPCStats) -> None:
    for title, names in (("No response from:", stats.noresponsefrom),
                         ("Unexpected response from:",
                          sorted(set(stats.unexpectedresponsefrom)))):
        if names:
            console.print()
            console.print(rich_text(title, style="red"))
            console.print()
            for line in columns(list(names)):
                console.print(rich_text("   " + line), markup=False)
            console.print()


# --- table and senders ------------------------------------------------------------------------


def table_columns(results: Sequence[Result], action: ActionDDL | None) -> list[str]:
    """Output names in DDL order; without a DDL, every data key seen, in order."""
    if action is not None and action.outputs:
        return list(action.outputs)
    keys: dict[str, None] = {}
    for result in results:
        if isinstance(result.data, dict):
            keys.update(dict.fromkeys(result.data))
    return list(keys)


def print_table(console: Console, results: Sequence[Result], action: ActionDDL | None
                ) -> None:
    """One row per successful reply: the sender, then each output (``display_as`` as
    the heading). Structured values are shown as compact JSON."""
    ok = [r for r in results if r.ok]
    names = table_columns(ok, action)
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD if console.is_terminal else box.ASCII2,
                  header_style="bold", show_edge=console.is_terminal)
    table.add_column("Sender", no_wrap=True)
    for name in names:
        table.add_column(label_for(name, action), overflow="fold")
    for result in ok:
        data = result.data if isinstance(result.data, dict) else {}
        table.add_row(result.sender, *(_cell(data.get(name)) for name in names))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return format_value(value)


def print_senders(console: Console, results: Iterable[Result]) -> None:
    """The identities that answered OK, one per line (for ``xargs`` and ``--nodes``)."""
    for sender in sorted({r.sender for r in results if r.ok}):
        console.print(sender, markup=False, highlight=False, soft_wrap=True)


# --- JSON -------------------------------------------------------------------------------------


def results_json(results: Iterable[Result]) -> list[dict[str, Any]]:
    """MCollective's ``-j`` document (``--json-format mcollective``): the bare array of
    ``{agent, action, sender, statuscode, statusmsg, data}`` (what jgrep reads)."""
    return [r.to_dict() for r in results]


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1e9)


def request_stats_json(stats: RPCStats) -> dict[str, Any]:
    """``request_stats`` of the ``-j`` object: Choria's keys (durations in nanoseconds,
    as Go encodes them; ``start_time_utc`` in RFC 3339), then ours: the discovered
    nodes, the method, batches, what the middleware did, and the exit code."""
    import datetime

    started = datetime.datetime.fromtimestamp(stats.starttime, tz=datetime.UTC)
    return {
        "requestid": stats.requestid,
        "no_responses": stats.noresponsefrom,
        "unexpected_responses": sorted(set(stats.unexpectedresponsefrom)),
        "discovered": stats.discovered,
        "failed": stats.failcount,
        "ok": stats.okcount,
        "responses": stats.responses,
        "publish_time": _nanoseconds(stats.publishtime),
        "request_time": _nanoseconds(stats.blocktime),
        "discover_time": _nanoseconds(stats.discoverytime),
        "start_time_utc": started.isoformat().replace("+00:00", "Z"),
        "discovered_nodes": list(stats.discovered_nodes),
        "discovery_method": stats.discovery_method,
        "batches": stats.batches,
        "connection_error": stats.connection_error,
        "exit_code": stats.exit_code(),
    }


def json_document(fmt: str, *, agent: str, action: str, results: Sequence[Result],
                  stats: RPCStats, report: SummaryReport | None) -> Any:
    """What ``-j`` prints (docs/output.md): ``choria`` (the default), the object of
    ``choria req --json`` -- ``agent``, ``action``, ``replies``, ``request_stats`` (who
    did not answer included) and ``summaries``; or ``mcollective``, the bare array."""
    if fmt == "mcollective":
        return results_json(results)
    return {
        "agent": agent,
        "action": action,
        "replies": [r.to_dict() for r in results],
        "request_stats": request_stats_json(stats),
        "summaries": report.to_dict() if report is not None else None,
    }


def dump_json(console: Console, obj: Any) -> None:
    """One JSON document: pretty on a terminal, compact in a pipe."""
    if console.is_terminal:
        console.print_json(json.dumps(obj, default=str))
    else:
        console.file.write(json.dumps(obj, default=str) + "\n")
        console.file.flush()


class JsonLines:
    """``--jsonl``: one JSON object per line and per event, flushed at once, so that a
    consumer sees each reply as it arrives. Every object has ``kind``: ``discovery``,
    ``result``, ``summaries``, ``stats`` or ``error``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def emit(self, kind: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"kind": kind, **fields}, default=str) + "\n")
        self.stream.flush()

    def discovery(self, *, agent: str, action: str, method: str, nodes: Sequence[str],
                  seconds: float) -> None:
        self.emit("discovery", agent=agent, action=action, method=method,
                  count=len(nodes), nodes=list(nodes), time=round(seconds, 6))

    def result(self, result: Result) -> None:
        self.emit("result", **result.to_dict(), time=result.time)

    def summaries(self, report: SummaryReport) -> None:
        self.emit("summaries", **report.to_dict())

    def stats(self, stats: RPCStats) -> None:
        self.emit("stats", **stats.to_dict(), exit_code=stats.exit_code())

    def error(self, message: str) -> None:
        self.emit("error", message=message)


# --- progress ---------------------------------------------------------------------------------


class ReplyProgress:
    """A live ``done / expected`` bar while replies arrive. Call it once per reply;
    :meth:`start` shows it (the first reply does, if nothing did before). Transient
    (erased when done) so it never mixes with the results, and a no-op unless enabled
    and the console is a terminal. ``console`` may be a function making it: the
    console (and rich) is then made only when the bar starts, which ``mco rpc`` does
    once the request is published (issue 14)."""

    def __init__(self, console: Console | Callable[[], Console], total: int, *,
                 enabled: bool) -> None:
        self._console = console
        self._total = total
        self._enabled = enabled and total > 0
        self._bar: Any = None
        self._task: Any = None

    def start(self) -> None:
        if not self._enabled or self._bar is not None:
            return
        console = self._console() if callable(self._console) else self._console
        if not console.is_terminal:
            self._enabled = False
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(SpinnerColumn(), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task("replies", total=self._total)

    def __call__(self) -> None:
        if self._bar is None:
            self.start()
        if self._bar is not None:
            self._bar.advance(self._task)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def reply_progress(console: Console | Callable[[], Console], total: int, *, enabled: bool
                   ) -> Iterator[ReplyProgress]:
    """A :class:`ReplyProgress`, stopped (erased) on the way out."""
    progress = ReplyProgress(console, total, enabled=enabled)
    try:
        yield progress
    finally:
        progress.stop()


__all__ = [
    "MODES",
    "JsonLines",
    "ReplyProgress",
    "columns",
    "dump_json",
    "format_value",
    "json_document",
    "json_format_of",
    "label_for",
    "mode_of",
    "print_aggregates",
    "print_data",
    "print_node_lists",
    "print_result",
    "print_senders",
    "print_summary",
    "print_table",
    "reply_progress",
    "request_stats_json",
    "results_json",
    "summary_style",
    "wants",
]
