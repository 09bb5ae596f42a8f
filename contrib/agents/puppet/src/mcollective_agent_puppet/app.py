"""``mco puppet``: schedule runs, enable, disable and interrogate the Puppet agent, with
the outputs of MCollective's puppet application (mcollective-puppet-agent).

::

    mco puppet [OPTIONS] [FILTERS] <ACTION> [CONCURRENCY|MESSAGE]

``count``, ``enable``, ``disable [MESSAGE]``, ``runonce``, ``runall CONCURRENCY``,
``status``, ``summary``, ``resource TYPE NAME``. ``runall`` runs Puppet on every
matching node with at most CONCURRENCY runs at a time; ``runonce --batch N
--batch-sleep S`` (core's batching) starts runs N nodes at a time.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from mcollective.aggregate import ActionSummaries
from mcollective.cli import output
from mcollective.cli.apps.rpc import Rpc
from mcollective.errors import MCollectiveError

COMMANDS = ("count", "enable", "disable", "runall", "runonce", "status", "summary",
            "resource")
TICKS = "▁▂▃▄▅▆▇"


def spark(histo: list[int]) -> str:
    if max(histo) == min(histo):
        return TICKS[0] * len(histo)
    distance = max(histo) / (len(TICKS) - 1)
    out = []
    for value in histo:
        tick = round(value / distance)
        if value > 0 and tick == 0:
            tick = 1
        out.append(TICKS[max(0, tick)])
    return "".join(out)


def shorten(number: float) -> str:
    if number >= 1_000_000:
        return f"{number / 1_000_000:0.1f}m"
    if number >= 1000:
        return f"{number / 1000:0.1f}k"
    return f"{number:0.1f}"


def sparkline(values: list[float], buckets: int = 20) -> str:
    """MCollective's ``sparkline_for_field``: a histogram of ``values``, min and max."""
    if not values:
        return "no data"
    low, high = min(values), max(values)
    counts = [0] * buckets
    size = (high - low) / float(buckets) + 1
    if high != low:
        for value in values:
            counts[int((value - low) / size)] += 1
    return f"{spark(counts)}  min: {shorten(low):<6} max: {shorten(high):<6}"


class PuppetApp(Rpc):
    name = "puppet"
    description = "Schedule runs, enable, disable and interrogate the Puppet Agent"
    usage = "mco puppet [OPTIONS] [FILTERS] <ACTION> [CONCURRENCY|MESSAGE]"
    epilog = """The ACTION can be one of the following:

    count    - return a total count of running, enabled, and disabled nodes
    enable   - enable the Puppet Agent if it was previously disabled
    disable  - disable the Puppet Agent preventing catalog from being applied
    resource - show a resource: mco puppet resource TYPE NAME
    runall   - invoke a puppet run on matching nodes, making sure to only run
               CONCURRENCY nodes at a time
    runonce  - invoke a Puppet run on matching nodes
    status   - shows a short summary about each Puppet Agent status
    summary  - shows resource and run time summaries
"""
    option_sections = ("common", "filter", "rpc")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("words", nargs="*", metavar="ACTION [CONCURRENCY|MESSAGE]")
        parser.add_argument("--force", action="store_true", default=None,
                            help="Bypass splay options when running")
        parser.add_argument("--server", help="Connect to a specific server or port")
        parser.add_argument("--tag", "--tags", dest="tags", action="append", default=[],
                            help="Restrict the run to specific tags (repeatable)")
        parser.add_argument("--skip-tag", "--skip_tags", dest="skip_tags",
                            action="append", default=[],
                            help="Exclude tags from the run (repeatable)")
        parser.add_argument("--noop", dest="noop", action="store_true", default=None,
                            help="Do a noop run")
        parser.add_argument("--no-noop", dest="noop", action="store_false",
                            help="Do a run with noop disabled")
        parser.add_argument("--environment", help="Place the node in a specific "
                            "environment for this run")
        parser.add_argument("--splay", dest="splay", action="store_true", default=None,
                            help="Splay the run by up to splaylimit seconds")
        parser.add_argument("--no-splay", dest="splay", action="store_false",
                            help="Do a run with splay disabled")
        parser.add_argument("--splaylimit", type=int, metavar="SECONDS",
                            help="Maximum splay time for this run if splay is set")
        parser.add_argument("--use-cached-catalog", dest="use_cached_catalog",
                            action="store_true", default=None,
                            help="Use the cached catalog")
        parser.add_argument("--no-use-cached-catalog", dest="use_cached_catalog",
                            action="store_false", help="Do not use the cached catalog")
        parser.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS",
                            help="runall: seconds between status polls (default 2)")

    # --- dispatch -------------------------------------------------------------------------

    def main(self, args: argparse.Namespace) -> int:
        words = list(args.words)
        if not words:
            raise MCollectiveError("Please specify a command.")
        command = words.pop(0)
        if command not in COMMANDS:
            raise MCollectiveError("Action must be count, enable, disable, resource, "
                                   "runall, runonce, status or summary")
        if args.force and args.splay is not None:
            raise MCollectiveError("Cannot set splay when forcing runs")
        if args.force and args.splaylimit is not None:
            raise MCollectiveError("Cannot set splaylimit when forcing runs")
        handler = getattr(self, f"{command}_command")
        return int(handler(args, words))

    def _client(self) -> Any:
        client = self.rpcclient("puppet")
        return client

    def _call(self, action: str, data: dict[str, Any]) -> int:
        client = self._client()
        data = client.validate(action, data)
        return self.render(client, action, client.action_ddl(action), data)

    def _collect(self, client: Any, action: str, data: dict[str, Any]
                 ) -> tuple[list[Any], Any]:
        """Discover (with MCollective's discovery line), call, and summarise."""
        data = client.validate(action, data)
        nodes = client.discover()
        if output.mode_of(self.args) == "text":
            self.discovery_line(client, len(nodes))
        if not nodes:
            raise MCollectiveError("No request sent, we did not discover any nodes.")
        results = list(client.stream(action, data))
        summaries = ActionSummaries(client.action_ddl(action), self.plugins)
        report = summaries.process_all(results)
        client.stats.aggregate_summary = list(report.results)
        return results, report

    # --- commands ---------------------------------------------------------------------------

    def runonce_arguments(self, args: argparse.Namespace) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in ("force", "server", "noop", "environment", "splay", "splaylimit",
                    "use_cached_catalog"):
            value = getattr(args, key)
            if value is not None:
                data[key] = value
        if args.tags:
            data["tags"] = ",".join(args.tags)
        if args.skip_tags:
            data["skip_tags"] = ",".join(args.skip_tags)
        return data

    def runonce_command(self, args: argparse.Namespace, words: list[str]) -> int:
        self._no_extra(words, "runonce")
        return self._call("runonce", self.runonce_arguments(args))

    def enable_command(self, args: argparse.Namespace, words: list[str]) -> int:
        self._no_extra(words, "enable")
        return self._call("enable", {})

    def disable_command(self, args: argparse.Namespace, words: list[str]) -> int:
        data = {"message": " ".join(words)} if words else {}
        return self._call("disable", data)

    def resource_command(self, args: argparse.Namespace, words: list[str]) -> int:
        if len(words) != 2:
            raise MCollectiveError("usage: mco puppet resource TYPE NAME")
        data: dict[str, Any] = {"type": words[0], "name": words[1]}
        if args.environment:
            data["environment"] = args.environment
        return self._call("resource", data)

    def status_command(self, args: argparse.Namespace, words: list[str]) -> int:
        self._no_extra(words, "status")
        if output.mode_of(args) != "text":
            return self._call("status", {})
        client = self._client()
        results, report = self._collect(client, "status", {})
        self._single_field(results, "message")
        self.out.print()
        output.print_aggregates(self.out, report, client.action_ddl("status"))
        output.print_summary(self.out, client.stats, verbose=args.verbose,
                             caption="puppet#status call stats")
        return int(client.stats.exit_code())

    def count_command(self, args: argparse.Namespace, words: list[str]) -> int:
        self._no_extra(words, "count")
        client = self._client()
        _results, report = self._collect(client, "status", {})
        counts = {r.output: r.value for r in report.results if r.type == "collection"}
        stats = client.stats

        def get(output_name: str, label: Any) -> int:
            values = counts.get(output_name) or {}
            return int(values.get(label, values.get(str(label).lower(), 0)))

        say = self.out.print
        if output.mode_of(args) == "json":
            output.dump_json(self.out, {
                "total": stats.okcount,
                "enabled": get("enabled", "enabled"), "disabled": get("enabled", "disabled"),
                "applying": get("applying", True), "stopped": get("applying", False),
                "daemon_running": get("daemon_present", "running"),
                "daemon_stopped": get("daemon_present", "stopped"),
                "idling": get("idling", True), "failed": stats.failcount})
            return int(stats.exit_code())
        say(f"Total Puppet nodes: {stats.okcount}", markup=False)
        say()
        say(f"          Nodes currently enabled: {get('enabled', 'enabled')}", markup=False)
        say(f"         Nodes currently disabled: {get('enabled', 'disabled')}", markup=False)
        say()
        say(f"Nodes currently doing puppet runs: {get('applying', True)}", markup=False)
        say(f"          Nodes currently stopped: {get('applying', False)}", markup=False)
        say()
        say(f"       Nodes with daemons started: {get('daemon_present', 'running')}",
            markup=False)
        say(f"    Nodes without daemons started: {get('daemon_present', 'stopped')}",
            markup=False)
        say(f"       Daemons started but idling: {get('idling', True)}", markup=False)
        say()
        if stats.failcount:
            noun = "node" if stats.failcount == 1 else "nodes"
            self.out.print(f"Failed to retrieve status of {stats.failcount} {noun}",
                           style="red", markup=False)
        output.print_summary(self.out, stats, verbose=args.verbose,
                             caption="puppet#status call stats")
        return int(stats.exit_code())

    def summary_command(self, args: argparse.Namespace, words: list[str]) -> int:
        self._no_extra(words, "summary")
        if output.mode_of(args) != "text":
            return self._call("last_run_summary", {})
        client = self._client()
        results, _report = self._collect(client, "last_run_summary", {})
        ok = [r for r in results if r.ok]

        def values(field: str) -> list[float]:
            out = []
            for result in ok:
                try:
                    out.append(float(result.data.get(field, 0)))
                except (TypeError, ValueError):
                    continue
            return out

        say = self.out.print
        say(f"Summary statistics for {len(ok)} nodes:", markup=False)
        say()
        for label, field in (
                ("                  Total resources", "total_resources"),
                ("            Out Of Sync resources", "out_of_sync_resources"),
                ("                 Failed resources", "failed_resources"),
                ("                Changed resources", "changed_resources"),
                ("  Config Retrieval time (seconds)", "config_retrieval_time"),
                ("         Total run-time (seconds)", "total_time"),
                ("    Time since last run (seconds)", "since_lastrun")):
            say(f"{label}: {sparkline(values(field))}", markup=False)
        say()
        for result in sorted(results, key=lambda r: r.sender):
            if not result.ok:
                say(f"{result.sender}: {result.statusmsg}", style="red", markup=False)
        output.print_summary(self.out, client.stats, verbose=args.verbose,
                             caption="puppet#last_run_summary call stats")
        return int(client.stats.exit_code())

    def runall_command(self, args: argparse.Namespace, words: list[str]) -> int:
        """Run Puppet everywhere, CONCURRENCY nodes at a time: start runs on idle,
        enabled nodes while fewer than CONCURRENCY are applying, until every node ran
        (or was skipped as disabled)."""
        if not words:
            raise MCollectiveError("The runall command needs a concurrency limit")
        try:
            concurrency = int(words[0])
        except ValueError:
            raise MCollectiveError(f"runall: {words[0]!r} is not a number") from None
        if concurrency <= 0:
            raise MCollectiveError("The concurrency for the runall command has to be "
                                   "greater than 0")
        if getattr(args, "compound", None):
            raise MCollectiveError("The runall command cannot be used with compound or "
                                   "-S filters on the CLI")
        client = self._client()
        nodes = sorted(client.discover())
        if not nodes:
            self.err.print("No request sent, we did not discover any nodes.", markup=False)
            return 1
        self.discovery_line(client, len(nodes))
        data = {"force": True, **self.runonce_arguments(args)}
        data.pop("splay", None)
        data.pop("splaylimit", None)
        pending = list(nodes)
        started: set[str] = set()
        failed: list[str] = []
        interval = args.poll_interval
        if not 0.1 <= interval <= 3600:
            raise MCollectiveError("--poll-interval must be between 0.1 and 3600 seconds")
        log = self._log
        log(f"Running all nodes with a concurrency of {concurrency}")
        log(f"Discovered {len(nodes)} nodes running the puppet agent")
        while pending or started:
            status = self._statuses(client, sorted(set(pending) | started))
            for node in sorted(started):
                state = status.get(node)
                if state is None or not state.get("applying"):
                    started.discard(node)
                    log(f"{node} has finished its Puppet run")
            running = sum(1 for s in status.values() if s.get("applying"))
            while pending and running < concurrency:
                node = pending.pop(0)
                state = status.get(node)
                if state is None:
                    log(f"{node} did not answer the status request, skipping")
                    failed.append(node)
                    continue
                if not state.get("enabled"):
                    log(f"{node} is disabled ({state.get('disable_message')}), skipping")
                    failed.append(node)
                    continue
                if state.get("applying"):
                    log(f"{node} is already applying a catalog, waiting for it")
                    pending.append(node)
                    break
                result = self._runonce(client, node, data)
                if result is None or not result.ok:
                    why = result.statusmsg if result is not None else "no reply"
                    log(f"{node} could not start a run: {why}")
                    failed.append(node)
                    continue
                log(f"{node} schedule status: {result.data.get('summary', '')}")
                started.add(node)
                running += 1
            if pending or started:
                time.sleep(interval)
        log(f"Finished: {len(nodes) - len(failed)} runs, {len(failed)} nodes skipped"
            + (f" ({', '.join(failed)})" if failed else ""))
        return 0 if not failed else 4

    # --- helpers ------------------------------------------------------------------------------

    def _log(self, message: str) -> None:
        self.out.print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {message}", markup=False)
        sys.stdout.flush()

    def _statuses(self, client: Any, nodes: list[str]) -> dict[str, dict[str, Any]]:
        return {r.sender: r.data for r in client.stream("status", {}, targets=nodes)
                if r.ok}

    def _runonce(self, client: Any, node: str, data: dict[str, Any]) -> Any:
        results = list(client.stream("runonce", data, targets=[node]))
        return results[0] if results else None

    def _single_field(self, results: list[Any], field: str) -> None:
        if not results:
            return
        width = max(len(r.sender) for r in results) + 3
        for result in sorted(results, key=lambda r: r.sender):
            if result.ok:
                self.out.print(f"{result.sender:>{width}}: {result.data.get(field)}",
                               markup=False)
            else:
                self.out.print(f"{result.sender:>{width}}: {result.statusmsg}",
                               style="red", markup=False)

    @staticmethod
    def _no_extra(words: list[str], command: str) -> None:
        if words:
            raise MCollectiveError(f"{command} takes no arguments, got "
                                   f"{' '.join(words)!r}")
