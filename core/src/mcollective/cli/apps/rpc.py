"""``mco rpc``: call any action of any agent on the matching nodes."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from mcollective.cli import output
from mcollective.cli.application import Application
from mcollective.errors import MCollectiveError

ARG_RE = re.compile(r"^(.+?)=(.*)$", re.S)


class Rpc(Application):
    name = "rpc"
    description = "Generic RPC agent client application"
    usage = "mco rpc [options] [filters] AGENT ACTION [key=value ...]"
    option_sections = ("common", "filter", "rpc")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("words", nargs="*", metavar="AGENT ACTION [key=value ...]")
        parser.add_argument("-a", "--agent", help="the agent to call")
        parser.add_argument("--action", help="the action to call")
        parser.add_argument("--arg", "--argument", dest="arguments", action="append",
                            default=[], metavar="KEY=VALUE", help="an argument (repeatable)")
        parser.add_argument("--nr", "--no-results", dest="no_results", action="store_true",
                            help="send the request without waiting for replies")

    def parse_call(self, args: argparse.Namespace) -> tuple[str, str, dict[str, str]]:
        words = list(args.words)
        agent = args.agent or (words.pop(0) if words else None)
        action = args.action or (words.pop(0) if words else None)
        if not agent or not action:
            raise MCollectiveError("need an agent and an action: " + self.usage)
        raw: dict[str, str] = {}
        for item in [*words, *args.arguments]:
            match = ARG_RE.match(item)
            if not match:
                raise MCollectiveError(f"could not parse argument {item!r}: expected key=value")
            raw[match.group(1)] = match.group(2)
        return agent, action, raw

    def main(self, args: argparse.Namespace) -> int:
        agent, action, raw = self.parse_call(args)
        client = self.rpcclient(agent)
        action_ddl = client.action_ddl(action)
        data: dict[str, Any]
        if action_ddl is not None:
            data = action_ddl.coerce(raw)
        else:
            if client.ddl is None:
                self.err.print(f"warning: no DDL for agent '{agent}' is installed here; "
                               "arguments are sent as strings without validation",
                               style="yellow", markup=False)
            data = dict(raw)
        data = client.validate(action, data)  # fails before anything is sent
        if args.no_results:
            request_id = client.call_async(action, data)
            self.out.print(f"Request sent with id: {request_id}", markup=False)
            return 0
        return self.render(client, action, action_ddl, data)

    def render(self, client: Any, action: str, action_ddl: Any, data: dict[str, Any]) -> int:
        args = self.args
        display = args.display or (action_ddl.display if action_ddl is not None else "failed")
        progress = args.progress and not args.json and self.out.is_terminal
        results = []
        nodes = client.discover()
        if not args.json:
            self.discovery_line(client, len(nodes))
        if not nodes:
            self.err.print("No request sent, we did not discover any nodes.", markup=False)
            return 1
        stream = client.stream(action, data)
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn

            with Progress(SpinnerColumn(), BarColumn(), MofNCompleteColumn(),
                          console=self.out, transient=True) as bar:
                task = bar.add_task("replies", total=len(nodes))
                for result in stream:
                    results.append(result)
                    bar.advance(task)
        else:
            results.extend(stream)
        stats = client.stats
        if args.json:
            output.dump_json(self.out, output.results_json(results))
            return stats.exit_code()
        self.out.print()
        for result in sorted(results, key=lambda r: r.sender):
            if output.wants(result, display):
                output.print_result(self.out, result, action_ddl, verbose=args.verbose)
        output.print_summary(self.out, stats, verbose=args.verbose,
                             caption=f"{client.agent}#{action} call stats")
        sys.stdout.flush()
        return stats.exit_code()
