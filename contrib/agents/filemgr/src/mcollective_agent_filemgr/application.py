"""``mco filemgr``: touch, remove and inspect a file on every matching node (the
``filemgr`` application of MCollective's file manager agent)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mcollective.cli import output
from mcollective.cli.agentapp import AgentApplication, complete_from, split_action
from mcollective.errors import MCollectiveError

ACTIONS = ("touch", "remove", "status")
_USAGE = "mco filemgr [OPTIONS] [FILTERS] <touch|remove|status> [FILE]"


class FilemgrApp(AgentApplication):
    name = "filemgr"
    description = "Generic file manager: touch, remove and inspect files"
    usage = _USAGE
    epilog = """FILE may also be given with -f/--file; without it the agent's default
(plugin.filemgr.touch_file on the node) is used. Paths must be absolute. remove changes
nodes: without a filter it asks first, unless -y/--yes is given.
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        words = parser.add_argument("words", nargs="+", metavar="ACTION [FILE]")
        words.completer = complete_from(ACTIONS)  # type: ignore[attr-defined]
        parser.add_argument("-f", "--file", help="the file to manage")
        parser.add_argument("-d", "--details", action="store_true",
                            help="status: every detail (and a directory's listing)")
        parser.add_argument("-y", "--yes", action="store_true",
                            help="do not ask before removing on unfiltered nodes")

    def main(self, args: argparse.Namespace) -> int:
        self.action, rest = split_action(args.words, ACTIONS, usage=_USAGE)
        if len(rest) > 1 or (rest and args.file):
            raise MCollectiveError(f"give one file, as FILE or --file; usage: {_USAGE}")
        inputs: dict[str, Any] = {}
        target = rest[0] if rest else args.file
        if target:
            inputs["file"] = target
        if self.action == "status" and args.details:
            inputs["dirlist"] = True
        return self.call("filemgr", self.action, inputs,
                         caption=f"{self.action} File Manager results",
                         confirm="remove files" if self.action == "remove" else None,
                         assume_yes=args.yes)

    def print_results(self, results: Sequence[Any], action_ddl: Any) -> None:
        if self.action != "status":
            self.print_node_lines(results, lambda r: "OK")
        elif self.args.details:
            for result in results:
                output.print_result(self.out, result, action_ddl, verbose=False)
        else:
            self.print_node_lines(results, _summary)


def _summary(result: Any) -> str:
    """``/etc/hosts: present, file, 221 bytes, mode 100644, modified 2024-...``"""
    data = result.data
    parts = [str(data.get("output"))]
    if data.get("present"):
        parts += [str(data.get("type")), f"{data.get('size')} bytes",
                  f"mode {data.get('mode')}", f"modified {data.get('mtime')}"]
        if data.get("md5"):
            parts.append(f"md5 {data['md5']}")
    return f"{data.get('name')}: " + ", ".join(parts)
