"""Run commands on nodes: ``run`` waits for the command, ``start`` leaves it running as
a background job that ``status``, ``statuses``, ``kill`` and ``list`` follow by handle.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcollective.agent import Agent, AgentContext, AgentReply, AgentRequest
from mcollective.config import number, text
from mcollective.errors import RPCAborted, RPCError

from .command import invocation
from .jobs import FAILED, STOPPED, JobStore

#: Seconds kept back from the action's deadline: a command still running then is
#: killed early enough for the node to answer with its output so far.
_MARGIN = 1.0
_DAY = 86400.0

SETTINGS: dict[str, Callable[[Any], Any]] = {"state_path": text, "job_retention": number(minimum=0),
            "activate_agent": str}


class Shell(Agent):
    """Runs commands through ``/bin/sh -c``, in the foreground or as background jobs."""

    agent_name = "shell"

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        settings = self.config.plugin_config("shell", SETTINGS, {"job_retention": 7.0})
        state = settings.get("state_path")
        base = self.config.resolve_path(state) if state else self.config.statedir / "shell"
        # One directory per identity: daemons sharing a state directory (several on one
        # machine, or emulated identities) must not see each other's jobs.
        self.jobs = JobStore(Path(base) / context.identity.replace(os.sep, "_"))
        #: Ended jobs are removed this many days after they ended (0: never).
        self.retention_days: float = settings["job_retention"]

    def startup(self) -> None:
        self._prune()

    # --- foreground -------------------------------------------------------------------

    def run(self, request: AgentRequest, reply: AgentReply) -> None:
        how = invocation(request["command"], request.get("user"))
        budget = request.remaining() - _MARGIN
        wanted = request.get("timeout") or 0.0
        limit = min(wanted, budget) if wanted > 0 else budget
        if limit <= 0:
            raise RPCAborted("no time left to run the command before the action's deadline")
        result = self.run_command(how.argv, request=request, timeout=limit, env=how.env,
                                  cwd="/")
        code = result.exitcode if result.exitcode >= 0 else 128 - result.exitcode
        reply["stdout"] = result.stdout
        reply["stderr"] = result.stderr
        reply["exitcode"] = code
        reply["success"] = code == 0 and not result.timed_out
        # A failed command fails the request (status 1, outputs kept): `mco` then
        # shows it as failed and exits non-zero, as an operator's shell would.
        if result.timed_out:
            why = (f"its timeout of {wanted:g} seconds" if 0 < wanted <= budget
                   else f"the agent's {request.timeout:g} second limit")
            reply.fail(f"Command was killed after reaching {why}")
        elif code != 0:
            last = _last_line(result.stderr)
            reply.fail(f"Command exited with code {code}" + (f": {last}" if last else ""))

    # --- background jobs ----------------------------------------------------------------

    def start(self, request: AgentRequest, reply: AgentReply) -> None:
        how = invocation(request["command"], request.get("user"))
        self._prune()
        job = self.jobs.start(request["command"], how,
                              wait=max(0.5, min(10.0, request.remaining() - _MARGIN)))
        reply["handle"] = job.handle
        if job.status == FAILED:
            reply.fail(f"job {job.handle} could not be started: {job.error}")

    def status(self, request: AgentRequest, reply: AgentReply) -> None:
        job = self.jobs.get(request["handle"])
        state = job.describe()
        reply["status"] = state["status"]
        reply["stdout"] = job.output("stdout", request.get("stdout_offset") or 0)
        reply["stderr"] = job.output("stderr", request.get("stderr_offset") or 0)
        if state["status"] == STOPPED:
            reply["exitcode"] = state["exitcode"]

    def statuses(self, request: AgentRequest, reply: AgentReply) -> None:
        results: dict[str, dict[str, object]] = {}
        for handle in request["handles"]:
            key = handle if isinstance(handle, str) else repr(handle)
            try:
                job = self.jobs.get(handle)
                entry = job.describe()
                entry["stdout"] = job.output("stdout")
                entry["stderr"] = job.output("stderr")
            except RPCError as exc:
                entry = {"status": "error", "error": str(exc)}
            results[key] = entry
        reply["statuses"] = results

    def kill(self, request: AgentRequest, reply: AgentReply) -> None:
        self.jobs.get(request["handle"]).kill()

    def list(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["jobs"] = {
            job.handle: {"id": job.handle, "command": job.command,
                         **job.describe(signal=True)}
            for job in self.jobs.jobs()
        }

    def _prune(self) -> None:
        if self.retention_days > 0:
            removed = self.jobs.prune(self.retention_days * _DAY)
            if removed:
                self.log.info("removed %d ended shell jobs older than %g days", removed,
                              self.retention_days)


def _last_line(text: str, limit: int = 200) -> str:
    """The last non-empty line of a command's stderr, for the status message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""
