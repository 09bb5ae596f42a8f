"""Running package manager commands within a request's time limit.

Queries are ordinary commands, killed at the deadline like any other. Commands that
change the system are never killed: interrupting dpkg or rpm half-way leaves a broken
package database (``dpkg was interrupted...``). When one outlives the request, the
agent answers that it is still running and lets it finish in the background.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from typing import IO

from mcollective.agent import Agent, AgentRequest, RunResult
from mcollective.errors import RPCAborted

#: Seconds kept back from the deadline, so the node can still answer in time.
MARGIN = 2.0


class StillRunning(RPCAborted):
    """A change outlived its request and carries on in the background."""


class RequestRunner:
    """The :class:`~mcollective_agent_package.base.Runner` of one request."""

    def __init__(self, agent: Agent, request: AgentRequest) -> None:
        self.agent, self.request = agent, request

    def read(self, argv: list[str]) -> RunResult:
        result = self.agent.run_command(
            argv, request=self.request, cwd="/",
            timeout=max(0.5, self.request.remaining() - MARGIN))
        if result.timed_out:
            raise RPCAborted(f"{argv[0]} did not finish within the agent's "
                             f"{self.request.timeout:g} second limit")
        return result

    def change(self, argv: list[str], env: dict[str, str]) -> RunResult:
        wait = max(0.5, self.request.remaining() - MARGIN)
        # Output goes to (already unlinked) files, not pipes: a command left running
        # in the background must never block on a pipe nobody reads any more.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd="/",
                    env={**os.environ, **env}, start_new_session=True)
            except FileNotFoundError:
                raise RPCAborted(f"command not found: {argv[0]}") from None
            deadline = time.monotonic() + wait
            while proc.poll() is None:
                if time.monotonic() >= deadline or self.request.cancelled.is_set():
                    threading.Thread(target=proc.wait, daemon=True,
                                     name=f"package-{proc.pid}").start()
                    raise StillRunning(
                        f"{' '.join(argv[:2])} is still running after {wait:.0f} seconds "
                        f"(pid {proc.pid}); it was left to finish in the background: "
                        f"ask for the package's status later")
                time.sleep(0.05)
            return RunResult(proc.returncode, _text(out), _text(err))

def _text(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")
