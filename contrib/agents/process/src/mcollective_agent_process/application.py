"""``mco process list [PATTERN]``: the matching processes of every node as a table per
node, then the summary of hosts, processes and memory (the ``process`` application of
Choria's process agent)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text

from mcollective.cli.agentapp import AgentApplication
from mcollective.errors import MCollectiveError

from .aggregate import bytes_to_human


def _command(entry: dict[str, Any]) -> str:
    text = str(entry.get("cmdline") or "")
    return f"[{text}]" if entry.get("state") == "Z" else text


#: The columns ``--fields`` may name, and how each reads from a ``pslist`` entry.
FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "PID": lambda e: str(e.get("pid")),
    "PPID": lambda e: str(e.get("ppid")),
    "USER": lambda e: str(e.get("username") or "")[:10],
    "VSZ": lambda e: bytes_to_human(int(e.get("vsize") or 0)),
    "RSS": lambda e: bytes_to_human(int(e.get("rss") or 0) * 1024),
    "STATE": lambda e: str(e.get("state")),
    "CPU": lambda e: f"{e.get('pctcpu') or 0:.1f}%",
    "MEM": lambda e: f"{e.get('pctmem') or 0:.1f}%",
    "COMMAND": _command,
}
DEFAULT_FIELDS = ("PID", "USER", "VSZ", "COMMAND")


def parse_fields(text: str) -> list[str]:
    """``--fields pid,user,command`` → upper-case names, each checked."""
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIELDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown field {', '.join(unknown) or repr(text)}; valid fields are "
            f"{', '.join(FIELDS)}")
    return names


class ProcessApp(AgentApplication):
    name = "process"
    description = "Distributed process listing"
    usage = "mco process [OPTIONS] [FILTERS] list [PATTERN] [-z] [--user USER] " \
            "[--fields FIELDS] [--silent]"
    epilog = f"""PATTERN is a regular expression searched for in each command line
(default: every process). Fields: {', '.join(FIELDS)}.
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("process_action", choices=("list",), metavar="list")
        parser.add_argument("pattern", nargs="?", help="regular expression matched "
                                                       "against command lines")
        parser.add_argument("-z", "--zombies", action="store_true",
                            help="only list defunct processes")
        parser.add_argument("-u", "--user", help="only list this user's processes")
        parser.add_argument("--fields", type=parse_fields, default=list(DEFAULT_FIELDS),
                            help="comma-separated columns to show (default: "
                                 f"{','.join(DEFAULT_FIELDS).lower()})")
        parser.add_argument("--silent", action="store_true",
                            help="only the summary, no process lists")

    def main(self, args: argparse.Namespace) -> int:
        inputs: dict[str, Any] = {}
        if args.pattern:
            inputs["pattern"] = args.pattern
        if args.zombies:
            inputs["just_zombies"] = True
        if args.user:
            inputs["user"] = args.user
        if len(inputs.get("pattern", "")) > 50:
            raise MCollectiveError("the pattern may be 50 characters at most")
        return self.call("process", "list", inputs, caption="list Process results")

    def rows(self, result: Any) -> list[list[str]]:
        data = result.data if isinstance(result.data, dict) else {}
        return [[FIELDS[name](entry) for name in self.args.fields]
                for entry in data.get("pslist") or [] if isinstance(entry, dict)]

    def print_results(self, results: Sequence[Any], action_ddl: Any) -> None:
        """Per node with matches: its name, then a table of its processes, with the
        same columns for every node."""
        if self.args.silent:
            return
        tables = {r.sender: self.rows(r) for r in results if r.ok}
        widths = column_widths(self.args.fields,
                               [row for rows in tables.values() for row in rows])
        for result in results:
            if not result.ok:
                self.out.print(Text(f"   {result.sender}: {result.statusmsg}", style="red"))
                continue
            if not tables[result.sender]:
                continue
            self.out.print(Text(f"   {result.sender}", style="bold"))
            self.out.print()
            self.out.print(Text(layout(self.args.fields, widths, "     "), style="bold"))
            for row in tables[result.sender]:
                self.out.print(layout(row, widths, "     "), markup=False, highlight=False)
            self.out.print()

    def print_table(self, results: Sequence[Any], action_ddl: Any) -> None:
        """``--table``: one table, one row per process, the node in the first column."""
        headers = ["SENDER", *self.args.fields]
        rows = [[r.sender, *row] for r in results if r.ok for row in self.rows(r)]
        widths = column_widths(headers, rows)
        self.out.print(Text(layout(headers, widths, ""), style="bold"))
        for row in rows:
            self.out.print(layout(row, widths, ""), markup=False, highlight=False)


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]


def layout(cells: Sequence[str], widths: Sequence[int], indent: str) -> str:
    """Cells left-aligned in their columns, two spaces apart; the last one unpadded."""
    padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=False)]
    return (indent + "  ".join([*padded, cells[-1]])).rstrip()
