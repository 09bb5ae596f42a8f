"""Supervisor of one background job: ``python -I jobwrapper.py <job directory>``.

The agent starts this in its own session and returns at once; the supervisor starts
the command, records its pid, waits for it and records how it ended. Everything goes
through files in the job directory, so the daemon keeps no state about jobs: a job
outlives the request that started it and even a daemon restart.

Files (written atomically, by rename):

* ``argv.json`` (input): the argv and environment to run;
* ``stdout``, ``stderr``: the command's output, appended as it comes;
* ``pid``: the command's pid, once it runs (it leads its own process group);
* ``error``: why it could not be started;
* ``exitstatus``: JSON ``{"exitcode": ..., "signal": ...}`` once it ended.

Only the standard library is used: this runs with ``-I`` (isolated mode).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Readers see the whole file or none of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def exit_status(returncode: int) -> dict[str, int]:
    """A ``Popen.returncode`` as an exit code and signal number: a command killed by a
    signal gets 128 + the signal as its exit code, as a shell reports it."""
    if returncode < 0:
        return {"exitcode": 128 - returncode, "signal": -returncode}
    return {"exitcode": returncode, "signal": 0}


def supervise(jobdir: Path) -> int:
    spec = json.loads((jobdir / "argv.json").read_text(encoding="utf-8"))
    # The daemon going away (its terminal, its session) must not take the job with it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with open(jobdir / "stdout", "ab") as out, open(jobdir / "stderr", "ab") as err:
        try:
            proc = subprocess.Popen(
                spec["argv"], stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd="/",
                env=spec.get("env"), process_group=0,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if isinstance(exc, FileNotFoundError):
                reason = f"command not found: {spec['argv'][0]}"
            write_atomic(jobdir / "error", reason + "\n")
            return 1
        write_atomic(jobdir / "pid", f"{proc.pid}\n")
        returncode = proc.wait()
    write_atomic(jobdir / "exitstatus", json.dumps(exit_status(returncode)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
