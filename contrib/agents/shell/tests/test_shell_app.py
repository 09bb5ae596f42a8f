"""``mco shell`` through real daemons and the real ``mco``: commands as typed at a
prompt, failures visible in the output and the exit code, background jobs by handle."""

from __future__ import annotations

import json
import re
import time

from mcollective.testing import LocalCollective


def test_run_as_a_veteran_types_it(local_collective: LocalCollective) -> None:
    for identity in ("n1", "n2"):
        local_collective.add_node(identity)
    proc = local_collective.mco("shell", "run", "ps aux | grep mcollectived")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "n1:" in lines and "n2:" in lines
    # The pipeline ran on the node: grep's output, not ps's whole table.
    body = [line for line in lines if line.startswith("    ")]
    assert body and all("mcollectived" in line for line in body)
    assert "Finished processing 2 / 2 hosts" in proc.stdout

    failing = local_collective.mco("shell", "run", "echo out; echo err >&2; exit 3",
                                   "-I", "n1")
    assert failing.returncode == 2, failing.stdout + failing.stderr
    assert "n1: Command exited with code 3: err" in failing.stdout
    assert "    out" in failing.stdout and "    err" in failing.stdout

    pipeline = local_collective.mco("shell", "run", "true | false", "-I", "n1", "-j")
    assert pipeline.returncode == 2
    [reply] = json.loads(pipeline.stdout)["replies"]
    assert reply["statuscode"] == 1
    assert (reply["data"]["exitcode"], reply["data"]["success"]) == (1, False)

    # Options of the command after --, unquoted.
    dashes = local_collective.mco("shell", "run", "-I", "n1", "--", "ls", "-d", "/")
    assert dashes.returncode == 0 and "    /" in dashes.stdout.splitlines()

    # The same through mco rpc: the node's failure is the command's.
    rpc = local_collective.mco("rpc", "shell", "run", "command=ls /no/such/dir", "-I", "n1")
    assert rpc.returncode == 2
    assert "Command exited with code 2" in rpc.stdout


def test_background_jobs(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    none = local_collective.mco("shell", "list")
    assert none.returncode == 0 and "No jobs on any node." in none.stdout
    started = local_collective.mco("shell", "start", "echo begun; sleep 60")
    assert started.returncode == 0, started.stdout + started.stderr
    match = re.search(r"n1: ([0-9a-f-]{36})", started.stdout)
    assert match, started.stdout
    handle = match.group(1)
    listed = local_collective.mco("shell", "list")
    assert re.search(rf"^    {handle}  running\s+echo begun; sleep 60$", listed.stdout,
                     re.M), listed.stdout
    deadline = time.monotonic() + 60
    status = local_collective.mco("shell", "status", handle)
    while "begun" not in status.stdout and time.monotonic() < deadline:
        time.sleep(0.5)
        status = local_collective.mco("shell", "status", handle)
    assert "n1: running" in status.stdout and "    begun" in status.stdout
    killed = local_collective.mco("shell", "kill", handle)
    assert killed.returncode == 0 and "n1: killed" in killed.stdout
    status = local_collective.mco("shell", "status", handle)
    while "n1: stopped" not in status.stdout and time.monotonic() < deadline:
        time.sleep(0.5)
        status = local_collective.mco("shell", "status", handle)
    assert "n1: stopped (exit code 143)" in status.stdout
    unknown = local_collective.mco("shell", "status", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2 and "no job with handle" in unknown.stdout


def test_usage_errors(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    for args, text in ((("run",), "needs a command"), (("status",), "needs one job handle"),
                       (("list", "x"), "takes no arguments"),
                       (("start", "x", "--command-timeout", "1"), "only applies to run")):
        proc = local_collective.mco("shell", *args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr


def test_commands_do_not_inherit_the_daemons_terminal(local_collective: LocalCollective) -> None:
    """A daemon started from a terminal (COLUMNS=80) must not pass its width on: procps
    cuts `ps aux` lines to COLUMNS even into a pipe, and the veteran's `ps aux | grep
    mcollectived` then found nothing."""
    env = {**local_collective.env(), "COLUMNS": "80", "LINES": "24"}
    local_collective.add_node("n1", env=env)
    proc = local_collective.mco("shell", "run", "ps aux | grep '[b]in/mcollectived'; "
                                "echo columns=${COLUMNS-unset}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "columns=unset" in proc.stdout
    assert any("bin/mcollectived" in line for line in proc.stdout.splitlines())
