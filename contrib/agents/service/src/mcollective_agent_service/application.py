"""``mco service``: start, stop, restart or query a service on every matching node,
one line per node and a summary of the states (the ``service`` application of
MCollective's service agent)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mcollective.cli.agentapp import AgentApplication, complete_from, split_action
from mcollective.errors import MCollectiveError

ACTIONS = ("status", "start", "stop", "restart")
_USAGE = "mco service [OPTIONS] [FILTERS] <SERVICE> <start|stop|restart|status>"


class ServiceApp(AgentApplication):
    name = "service"
    description = "Start, stop, restart and query services"
    usage = _USAGE
    epilog = """Both word orders work: `mco service cron status` (MCollective's) and
`mco service status cron`. start, stop and restart change nodes: without a filter they
ask first, unless -y/--yes is given.
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        words = parser.add_argument("words", nargs="+", metavar="SERVICE ACTION")
        words.completer = complete_from(ACTIONS)  # type: ignore[attr-defined]
        parser.add_argument("-y", "--yes", action="store_true",
                            help="do not ask before changing unfiltered nodes")

    def main(self, args: argparse.Namespace) -> int:
        action, rest = split_action(args.words, ACTIONS, usage=_USAGE)
        if len(rest) != 1:
            raise MCollectiveError(f"'{action}' needs one service name; usage: {_USAGE}")
        return self.call("service", action, {"service": rest[0]},
                         caption=f"{action} Service results",
                         confirm=None if action == "status" else f"{action} services",
                         assume_yes=args.yes)

    def print_results(self, results: Sequence[Any], action_ddl: Any) -> None:
        self.print_node_lines(results, lambda r: r.data.get("status"))
