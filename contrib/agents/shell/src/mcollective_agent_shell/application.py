"""``mco shell``: run a command on every matching node and show what each printed, or
start it as a background job and follow it by handle (the ``shell`` application of
Choria's shell agent)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from mcollective.cli.agentapp import AgentApplication
from mcollective.errors import MCollectiveError

ACTIONS = ("run", "start", "list", "status", "kill")
_USAGE = "mco shell [OPTIONS] [FILTERS] <run|start|list|status|kill> [COMMAND|HANDLE]"


class ShellApp(AgentApplication):
    name = "shell"
    description = "Run shell commands on nodes, in the foreground or as background jobs"
    usage = _USAGE
    epilog = """actions:
    run COMMAND     run COMMAND and wait for it; show each node's output
    start COMMAND   start COMMAND as a background job; show each node's handle
    list            the jobs each node knows
    status HANDLE   a job's state and output so far
    kill HANDLE     stop a running job

COMMAND runs through /bin/sh -c, as typed at a prompt: pipes, redirections, &&,
variables and globs work. Quote it once for your own shell:
    mco shell run 'ps aux | grep mcollectived'
A command that exits non-zero is shown as failed on its node, and mco exits 2.
Words after -- are the command, options included: mco shell run -- ls -l /tmp
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("shell_action", choices=ACTIONS, metavar="ACTION",
                            help=", ".join(ACTIONS))
        parser.add_argument("words", nargs="*", metavar="COMMAND|HANDLE")
        parser.add_argument("--user", help="run the command as this user (the daemon "
                                           "must run as root)")
        parser.add_argument("--command-timeout", type=float, metavar="SECONDS",
                            help="run: kill the command after this long")

    def main(self, args: argparse.Namespace) -> int:
        action, words = args.shell_action, list(args.words)
        self.action = action
        inputs: dict[str, Any] = {}
        if action in ("run", "start"):
            if not words:
                raise MCollectiveError(f"'{action}' needs a command; usage: mco shell "
                                       f"{action} 'COMMAND'")
            command = " ".join(words)
            inputs["command"] = command
            if args.user:
                inputs["user"] = args.user
            if args.command_timeout is not None:
                if action != "run":
                    raise MCollectiveError("--command-timeout only applies to run")
                inputs["timeout"] = args.command_timeout
            caption = f"Ran command: {command}" if action == "run" \
                else f"Started command: {command}"
        elif action == "list":
            if words:
                raise MCollectiveError("'list' takes no arguments")
            caption = "Command list"
        else:
            if len(words) != 1:
                raise MCollectiveError(f"'{action}' needs one job handle; usage: mco shell "
                                       f"{action} HANDLE")
            inputs["handle"] = words[0]
            caption = f"{action} of job {words[0]}"
        return self.call("shell", action, inputs, caption=caption)

    # --- text output ----------------------------------------------------------------

    def print_results(self, results: Sequence[Any], action_ddl: Any) -> None:
        if self.action == "run":
            for result in results:
                self._print_run(result)
        elif self.action == "start":
            self.print_node_lines(results, lambda r: r.data.get("handle"))
        elif self.action == "kill":
            self.print_node_lines(results, lambda r: "killed")
        elif self.action == "status":
            for result in results:
                self._print_status(result)
        else:
            self._print_list(results)

    def _print_run(self, result: Any) -> None:
        data = result.data if isinstance(result.data, dict) else {}
        head = Text(f"{result.sender}:", style="bold")
        if not result.ok:
            head.append(f" {result.statusmsg}", style="red")
        self.out.print(head)
        self._print_streams(data)
        self.out.print()

    def _print_status(self, result: Any) -> None:
        data = result.data if isinstance(result.data, dict) else {}
        head = Text(f"{result.sender}: ", style="bold")
        if not result.ok:
            head.append(result.statusmsg, style="red")
        else:
            head.append(str(data.get("status")))
            if data.get("exitcode") is not None:
                head.append(f" (exit code {data['exitcode']})",
                            style="red" if data["exitcode"] else "")
        self.out.print(head)
        self._print_streams(data)
        self.out.print()

    def _print_streams(self, data: dict[str, Any]) -> None:
        for stream, style in (("stdout", ""), ("stderr", "red")):
            text = data.get(stream) or ""
            for line in text.splitlines():
                self.out.print(Text("    " + line, style=style))

    def _print_list(self, results: Sequence[Any]) -> None:
        if all(r.ok and not (r.data or {}).get("jobs") for r in results):
            self.out.print("No jobs on any node.")
            self.out.print()
            return
        for result in results:
            if not result.ok:
                self.out.print(Text(f"{result.sender}: {result.statusmsg}", style="red"))
                continue
            jobs = result.data.get("jobs") or {} if isinstance(result.data, dict) else {}
            if not jobs:
                continue
            self.out.print(Text(f"{result.sender}:", style="bold"))
            for handle in sorted(jobs):
                job = jobs[handle] if isinstance(jobs[handle], dict) else {}
                state = str(job.get("status"))
                if job.get("exitcode") is not None:
                    state += f" ({job['exitcode']})"
                self.out.print(Text(f"    {handle}  {state:<14} {job.get('command', '')}"),
                               markup=False)
            self.out.print()
