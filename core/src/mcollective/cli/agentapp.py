"""Base class of applications that call the actions of one agent: ``mco rpc`` and the
commands agent distributions ship (``mco package``, ``mco service``, ``mco shell``...).

The whole call is shared: building the client from the filters, coercing and
validating inputs against the DDL before anything is sent, the discovery line, the
progress bar, aggregate summaries computed while replies arrive, every output mode
(``-j``, ``--jsonl``, ``--table``, ``--senders``), the closing statistics, the
missing-node report and the exit code. An application supplies only what differs: how
its words map to an action, and how a node's result reads in text mode
(:meth:`AgentApplication.print_results`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mcollective.cli import output
from mcollective.cli.application import Application
from mcollective.errors import MCollectiveError

if TYPE_CHECKING:
    from mcollective.aggregate import ActionSummaries


def split_action(words: Sequence[str], actions: Sequence[str], *, usage: str
                 ) -> tuple[str, list[str]]:
    """The action among the first two words, and the other words in order.

    MCollective's applications accept both ``mco service cron status`` and ``mco
    service status cron`` (likewise ``mco package bash status``); a runbook written
    either way runs unchanged. The first word wins when both are action names.
    """
    if words and words[0] in actions:
        return words[0], list(words[1:])
    if len(words) > 1 and words[1] in actions:
        return words[1], [words[0], *words[2:]]
    given = f" (got {' '.join(words[:2])!r})" if words else ""
    raise MCollectiveError(f"the action must be one of {', '.join(actions)}{given}; "
                           f"usage: {usage}")


def complete_from(words: Sequence[str]) -> Callable[..., list[str]]:
    """A shell completer (argcomplete) offering ``words``: the actions of a command
    whose positional words are free-form (``mco service <TAB>``)."""

    def complete(prefix: str, **_: Any) -> list[str]:
        return [word for word in words if word.startswith(prefix)]

    return complete


def sender_pattern(results: Sequence[Any]) -> int:
    """MCollective's column for identities: the longest one plus three, right-aligned."""
    return max((len(r.sender) for r in results), default=0) + 3


class AgentApplication(Application):
    """An application built on the actions of one agent."""

    option_sections = ("common", "filter", "rpc")

    # --- for subclasses -------------------------------------------------------------

    def print_results(self, results: Sequence[Any], action_ddl: Any) -> None:
        """Text mode: the results, sorted by sender. By default each node as ``mco
        rpc`` shows it, filtered by the display mode (``--display`` or the DDL's)."""
        display = self.args.display or (action_ddl.display if action_ddl is not None
                                        else "failed")
        for result in results:
            if output.wants(result, display):
                output.print_result(self.out, result, action_ddl,
                                    verbose=self.args.verbose)

    def print_table(self, results: Sequence[Any], action_ddl: Any) -> None:
        """``--table``: one row per successful reply, one column per output."""
        output.print_table(self.out, results, action_ddl)

    def print_failures(self, results: Sequence[Any], action_ddl: Any) -> None:
        """Below a table: failed replies have no data for its columns, so they are
        listed as text."""
        for result in results:
            if not result.ok:
                output.print_result(self.out, result, action_ddl, verbose=self.args.verbose)

    # --- the call -------------------------------------------------------------------

    def prepare(self, agent: str, action: str, raw: Mapping[str, Any]
                ) -> tuple[Any, Any, dict[str, Any]]:
        """The client for ``agent`` (from this run's filters), the action's DDL, and
        the inputs typed and validated as the DDL says: a bad input fails here,
        before anything is sent."""
        output.mode_of(self.args)  # conflicting output options fail before anything else
        self.reply_filter()  # a mistake in --filter-replies too
        self.check_agent_name(agent)  # before a node list is read from stdin
        client = self.rpcclient(agent)
        # One round when the answer is known (docs/discovery.md, the discovery cache).
        client.use_discovery_cache = True
        action_ddl = client.action_ddl(action)
        data: dict[str, Any]
        if action_ddl is not None:
            data = action_ddl.coerce(dict(raw))
        else:
            if client.ddl is None:
                self.err.print(f"warning: no DDL for agent '{agent}' is installed here; "
                               "arguments are sent as strings without validation",
                               style="yellow", markup=False)
            data = dict(raw)
        return client, action_ddl, client.validate(action, data)

    def call(self, agent: str, action: str, raw: Mapping[str, Any], *,
             caption: str | None = None, confirm: str | None = None,
             assume_yes: bool = False) -> int:
        """Prepare, call and render one action; returns the exit code.

        ``confirm`` (``"restart services"``) marks an action that changes nodes: it is
        sent to every node only once confirmed (:meth:`confirm_unfiltered`)."""
        client, action_ddl, data = self.prepare(agent, action, raw)
        if confirm:
            self.confirm_unfiltered(confirm, assume_yes=assume_yes, client=client)
        return self.render(client, action, action_ddl, data, caption=caption)

    def render(self, client: Any, action: str, action_ddl: Any, data: dict[str, Any],
               *, caption: str | None = None) -> int:
        """Discover, call, and print the results in the chosen output mode (text,
        ``-j``, ``--jsonl``, ``--table``, ``--senders``; see docs/output.md). Summaries
        are computed while replies arrive; returns the exit code."""
        args = self.args
        mode = output.mode_of(args)
        json_format = output.json_format_of(args, self.config)
        reply_filter = self.reply_filter()
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
            if mode == "json":  # still one valid document
                client.stats.discovery_method = client.discovery_method
                client.stats.discovery_performed = True
                client.stats.discoverytime = discovery_time
                output.dump_json(self.out, output.json_document(
                    json_format, agent=client.agent, action=action, results=[],
                    stats=client.stats, report=None))
            self.err.print(message, markup=False)
            return 1
        # The summaries (and the aggregate machinery) once the request is on its way.
        summaries: list[ActionSummaries] = []

        def summarise() -> None:
            from mcollective.aggregate import ActionSummaries

            summaries.append(ActionSummaries(action_ddl, self.plugins))

        def published() -> None:
            summarise()
            advance.start()

        results = []
        show_bar = args.progress and mode in ("text", "table")
        # --limit-nodes sends to fewer nodes than were discovered: the bar counts those.
        expected = len(client.targets(nodes)) if hasattr(client, "targets") else len(nodes)
        try:
            # The bar (and the console, and rich) once the request is on its way.
            with output.reply_progress(lambda: self.out, expected,
                                       enabled=show_bar) as advance:
                for result in client.stream(action, data, on_publish=published):
                    advance()  # every reply counts as an answer, shown or not
                    if reply_filter is not None and not reply_filter.matches(result):
                        continue
                    results.append(result)
                    summaries[0].process(result)
                    if jsonl is not None and not getattr(args, "sort", False):
                        jsonl.result(result)
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
        if not summaries:  # nothing was published
            summarise()
        report = summaries[0].report()
        stats.aggregate_summary = list(report.results)
        stats.aggregate_failures = [str(f) for f in report.failures]
        if getattr(args, "sort", False):
            results.sort(key=lambda r: r.sender)
        self.report_filter_problems()
        if mode == "json":
            output.dump_json(self.out, output.json_document(
                json_format, agent=client.agent, action=action, results=results,
                stats=stats, report=report))
        elif jsonl is not None:
            if getattr(args, "sort", False):  # written once every reply is in, in order
                for result in results:
                    jsonl.result(result)
            jsonl.summaries(report)
            jsonl.stats(stats)
        elif mode == "senders":
            output.print_senders(self.out, results)
        else:
            self._render_text(mode, results, action_ddl, report, stats,
                              caption=caption or f"{client.agent}#{action} call stats")
        self.explain_silence(client, stats)
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
        """Text and table modes: results, summaries, the closing statistics."""
        ordered = sorted(results, key=lambda r: r.sender)
        self.out.print()
        if mode == "table":
            display = self.args.display or (action_ddl.display if action_ddl is not None
                                            else "failed")
            if display != "none":
                self.print_table(ordered, action_ddl)
                self.out.print()
            if display in ("all", "always", "failed"):
                self.print_failures(ordered, action_ddl)
        else:
            self.print_results(ordered, action_ddl)
        output.print_aggregates(self.out, report, action_ddl)
        output.print_summary(self.out, stats, verbose=self.args.verbose, caption=caption)

    # --- helpers -------------------------------------------------------------------

    def filtered(self, client: Any = None) -> bool:
        """Whether this run narrows the nodes: a filter, or an explicit node list
        (``--nodes``, ``--dm``, or identities piped into ``mco``)."""
        args = self.args
        if client is not None and getattr(client, "stdin", None) is not None:
            return True
        return any(getattr(args, key, None) for key in (
            "facts", "classes", "agents", "identities", "compound", "with_", "nodes",
            "discovery_method"))

    def confirm_unfiltered(self, what: str, *, assume_yes: bool, client: Any = None
                           ) -> None:
        """MCollective's guard before changing every node at once: ask on a terminal,
        refuse elsewhere (a script says ``-y``), unless a filter or a node list
        narrows the nodes."""
        if assume_yes or self.filtered(client):
            return
        stdin = sys.stdin
        if stdin is None or not stdin.isatty():
            raise MCollectiveError(f"refusing to {what} on every node without a filter; "
                                   "add a filter, or -y to confirm")
        self.err.print(f"Do you really want to {what} unfiltered? (y/n): ", end="",
                       markup=False)
        answer = stdin.readline(64).strip().lower()
        if answer not in ("y", "yes"):
            raise MCollectiveError("not confirmed; nothing was sent")

    # --- helpers for text renderers -------------------------------------------------

    def print_node_lines(self, results: Sequence[Any], line: Any) -> None:
        """MCollective's one line per node: the identity right-aligned in a column as
        wide as the longest, ``: ``, then ``line(result)`` for a success or the status
        message (in red) for a failure; then a blank line."""
        width = sender_pattern(results)
        for result in results:
            head = output.rich_text(f"{result.sender.rjust(width)}: ")
            if result.ok:
                head.append(str(line(result)))
            else:
                head.append(result.statusmsg, style="red")
            self.out.print(head)
        if results:
            self.out.print()
