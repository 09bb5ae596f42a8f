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


def _complete_words(prefix: str, parsed_args: argparse.Namespace, **kwargs: Any) -> list[str]:
    """Shell completion of agents, actions and inputs (only while completing)."""
    from mcollective.cli.completion import rpc_words

    return rpc_words(prefix, parsed_args, **kwargs)


class Rpc(Application):
    name = "rpc"
    description = "Generic RPC agent client application"
    usage = "mco rpc [options] [filters] AGENT ACTION [key=value ...]"
    option_sections = ("common", "filter", "rpc")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        words = parser.add_argument("words", nargs="*", metavar="AGENT ACTION [key=value ...]")
        words.completer = _complete_words  # type: ignore[attr-defined]  # argcomplete
        parser.add_argument("-a", "--agent", help="the agent to call")
        parser.add_argument("--action", help="the action to call")
        parser.add_argument("--arg", "--argument", dest="arguments", action="append",
                            default=[], metavar="KEY=VALUE", help="an argument (repeatable)")
        parser.add_argument("--nr", "--no-results", dest="no_results", action="store_true",
                            help="fire and forget: nodes act but do not reply, and the "
                                 "request id is printed")

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
        client.use_discovery_cache = True  # see docs/discovery.md
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
        if args.no_results or client.reply_to:
            # Nobody waits for replies here: the request id is all there is to print.
            if args.no_results:
                client.call_async(action, data)
            else:
                client.call(action, data)  # returns at once: the replies go elsewhere
            request_id = client.stats.requestid
            if not request_id:
                self.err.print("No request sent, we did not discover any nodes.",
                               markup=False)
                return 1
            where = "" if args.no_results else f" replies to {client.reply_to}"
            self.out.print(f"Request sent with id: {request_id}{where}", markup=False)
            return 0
        return self.render(client, action, action_ddl, data)

    def render(self, client: Any, action: str, action_ddl: Any, data: dict[str, Any]) -> int:
        """Discover, call, and print the results in the chosen output mode (text,
        ``-j``, ``--jsonl``, ``--table``, ``--senders``; see docs/output.md). Summaries
        are computed while replies arrive; returns the exit code."""
        import time

        from mcollective.aggregate import ActionSummaries

        args = self.args
        mode = output.mode_of(args)
        jsonl = output.JsonLines(self.out.file) if mode == "jsonl" else None
        started = time.monotonic()
        try:
            nodes = client.discover()
        except MCollectiveError as exc:
            if jsonl is None:
                raise
            jsonl.error(str(exc))
            return 1
        discovery_time = time.monotonic() - started
        if jsonl is not None:
            jsonl.discovery(agent=client.agent, action=action,
                            method=client.discovery_method, nodes=nodes,
                            seconds=discovery_time)
        elif mode != "json":
            self.discovery_line(client, len(nodes))
        if not nodes:
            message = "No request sent, we did not discover any nodes."
            trouble = client.discovery_trouble()
            if trouble:
                message = ("No request sent, we did not discover any nodes: "
                           f"{trouble} during discovery.")
                self.link_reported = True
            if jsonl is not None:
                jsonl.error(message)
                return 1
            if mode == "json":
                output.dump_json(self.out, [])  # still one valid document
            self.err.print(message, markup=False)
            return 1
        summaries = ActionSummaries(action_ddl, self.plugins)
        results = []
        show_bar = args.progress and mode in ("text", "table")
        # --limit-nodes sends to fewer nodes than were discovered: the bar counts those.
        expected = len(client.targets(nodes)) if hasattr(client, "targets") else len(nodes)
        try:
            with output.reply_progress(self.out, expected, enabled=show_bar) as advance:
                for result in client.stream(action, data):
                    results.append(result)
                    summaries.process(result)
                    if jsonl is not None:
                        jsonl.result(result)
                    advance()
        except MCollectiveError as exc:
            if jsonl is None:
                raise
            jsonl.error(str(exc))
            return 1
        stats = client.stats
        # Discovery ran before stream(), which then found it cached: report its real time.
        if stats.discoverytime < discovery_time:
            stats.totaltime += discovery_time - stats.discoverytime
            stats.discoverytime = discovery_time
        report = summaries.report()
        stats.aggregate_summary = list(report.results)
        stats.aggregate_failures = [str(f) for f in report.failures]
        if mode == "json":
            output.dump_json(self.out, output.results_json(results))
        elif jsonl is not None:
            jsonl.summaries(report)
            jsonl.stats(stats)
        elif mode == "senders":
            output.print_senders(self.out, results)
        else:
            self._render_text(mode, results, action_ddl, report, stats,
                              caption=f"{client.agent}#{action} call stats")
        gap = stats.gap_report()
        if gap:
            # Last, on stderr, one line: what the broker did and who is missing for it.
            if jsonl is not None and stats.exit_code():  # not when all answered anyway
                jsonl.error(gap)
            self.out.file.flush()
            self.err.print(f"mco {self.name}: {gap}", markup=False, style="red")
            self.link_reported = True
        sys.stdout.flush()
        return stats.exit_code()

    def _render_text(self, mode: str, results: list[Any], action_ddl: Any, report: Any,
                     stats: Any, *, caption: str) -> None:
        """Text and table modes: results (as the display mode selects), summaries, the
        closing statistics."""
        args = self.args
        display = args.display or (action_ddl.display if action_ddl is not None else "failed")
        ordered = sorted(results, key=lambda r: r.sender)
        self.out.print()
        if mode == "table":
            if display != "none":
                output.print_table(self.out, ordered, action_ddl)
                self.out.print()
            # Failures have no data for the table's columns: list them as text.
            display = "failed" if display in ("all", "always", "failed") else "none"
        for result in ordered:
            if (mode == "text" or not result.ok) and output.wants(result, display):
                output.print_result(self.out, result, action_ddl, verbose=args.verbose)
        output.print_aggregates(self.out, report, action_ddl)
        output.print_summary(self.out, stats, verbose=args.verbose, caption=caption)
