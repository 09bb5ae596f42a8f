"""Background jobs as directories under the node's state directory: one per handle,
written by :mod:`mcollective_agent_shell.jobwrapper` and read by the agent. The
directory *is* the job's state, so any request, any thread and a restarted daemon see
the same thing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcollective.errors import InvalidRPCData, RPCAborted

from .command import Invocation

#: What the DDL lets through, made stricter: a handle is never empty.
HANDLE_RE = re.compile(r"[0-9a-z\-]{1,36}\Z")
WRAPPER = Path(__file__).with_name("jobwrapper.py")

STARTING, RUNNING, STOPPED, FAILED = "starting", "running", "stopped", "failed"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Job:
    """One background job, read from its directory each time it is asked."""

    handle: str
    directory: Path

    @property
    def command(self) -> str:
        return (_read(self.directory / "command") or "").rstrip("\n")

    @property
    def pid(self) -> int | None:
        text = _read(self.directory / "pid")
        return int(text) if text and text.strip() else None

    @property
    def error(self) -> str | None:
        text = _read(self.directory / "error")
        return text.strip() if text is not None else None

    def exit_info(self) -> dict[str, int | None] | None:
        text = _read(self.directory / "exitstatus")
        return json.loads(text) if text else None

    @property
    def status(self) -> str:
        """``starting`` (no pid yet), ``running``, ``stopped`` or ``failed`` (could not
        be started), as Choria's agent names them."""
        if self.error is not None:
            return FAILED
        pid = self.pid
        if pid is None:
            return STARTING
        if self.exit_info() is not None or not _alive(pid):
            # A command that is gone has stopped. Its supervisor records the exit status
            # right after reaping it; if that never comes (the supervisor was killed
            # too), the exit code stays unknown.
            return STOPPED
        return RUNNING

    def wait_exit_info(self, timeout: float = 0.5) -> dict[str, int | None] | None:
        """The exit status, waiting briefly for the supervisor to record it (it does
        so just after the command is reaped)."""
        deadline = time.monotonic() + timeout
        while (info := self.exit_info()) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return info

    def ending(self, status: str) -> dict[str, int | None]:
        """``exitcode`` and ``signal`` of a job in ``status`` (both ``None`` until it
        has stopped, or when how it ended was never recorded)."""
        info = self.wait_exit_info() if status == STOPPED else None
        info = info or {}
        return {"exitcode": info.get("exitcode"), "signal": info.get("signal")}

    def output(self, stream: str, offset: int = 0) -> str:
        """``stdout`` or ``stderr`` from byte ``offset`` on (invalid UTF-8 replaced)."""
        if offset < 0:
            raise InvalidRPCData(f"{stream}_offset must not be negative, got {offset}")
        try:
            with open(self.directory / stream, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", errors="replace")

    def kill(self) -> None:
        """SIGTERM to the job's process group (the command and what it started)."""
        status, pid = self.status, self.pid
        if status != RUNNING or pid is None:
            raise RPCAborted(f"job {self.handle} is not running (status: {status})")
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            raise RPCAborted(f"job {self.handle} is not running (it just ended)") from None

    def describe(self, *, signal: bool = False) -> dict[str, Any]:
        """The ``status``/``statuses``/``list`` view, without output: ``exitcode`` once
        stopped, ``error`` when it failed to start, and ``signal`` when asked for."""
        status = self.status
        ending = self.ending(status)
        out: dict[str, Any] = {"status": status}
        if status == STOPPED:
            out["exitcode"] = ending["exitcode"]
        if status == FAILED:
            out["error"] = self.error
        if signal:
            out["signal"] = ending["signal"]
        return out


class JobStore:
    """The job directories of one node."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, handle: str) -> Job:
        """The job ``handle``; :class:`RPCAborted` when there is none."""
        if not isinstance(handle, str) or not HANDLE_RE.match(handle):
            raise InvalidRPCData(f"invalid job handle {handle!r}")
        directory = self.root / handle
        if not (directory / "command").is_file():
            raise RPCAborted(f"no job with handle {handle} on this node")
        return Job(handle, directory)

    def jobs(self) -> Iterator[Job]:
        if not self.root.is_dir():
            return
        for directory in sorted(self.root.iterdir()):
            if HANDLE_RE.match(directory.name) and (directory / "command").is_file():
                yield Job(directory.name, directory)

    def start(self, command: str, invocation: Invocation, *, wait: float) -> Job:
        """Start a supervised job and wait (up to ``wait`` seconds) until it runs or
        has failed to start; return it either way."""
        handle = str(uuid.uuid4())
        directory = self.root / handle
        directory.mkdir(parents=True, mode=0o700)
        (directory / "argv.json").write_text(
            json.dumps({"argv": invocation.argv, "env": invocation.env}), encoding="utf-8")
        (directory / "stdout").touch()
        (directory / "stderr").touch()
        (directory / "command").write_text(command + "\n", encoding="utf-8")
        supervisor = subprocess.Popen(
            [sys.executable, "-I", str(WRAPPER), str(directory)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd="/", start_new_session=True, close_fds=True,
        )
        # Reap the supervisor when it ends, so it never lingers as a zombie of the daemon.
        threading.Thread(target=supervisor.wait, name=f"shell-job-{handle[:8]}",
                         daemon=True).start()
        job = Job(handle, directory)
        deadline = time.monotonic() + wait
        while job.status == STARTING and time.monotonic() < deadline:
            if supervisor.poll() is not None and job.status == STARTING:
                (directory / "error").write_text(
                    f"job supervisor exited with code {supervisor.returncode} before "
                    f"starting the command\n", encoding="utf-8")
                break
            time.sleep(0.01)
        return job

    def prune(self, older_than: float) -> int:
        """Remove ended jobs whose directory has not changed for ``older_than`` seconds;
        return how many were removed."""
        cutoff = time.time() - older_than
        removed = 0
        for job in list(self.jobs()):
            if job.status in (STOPPED, FAILED) and job.directory.stat().st_mtime < cutoff:
                shutil.rmtree(job.directory, ignore_errors=True)
                removed += 1
        return removed
