"""The shell agent through real daemons and the real ``mco``."""

from __future__ import annotations

import json
import os
import time

from mcollective.testing import LocalCollective


def test_run_on_three_nodes(local_collective: LocalCollective) -> None:
    for identity in ("n1", "n2", "n3"):
        local_collective.add_node(identity)
    proc = local_collective.mco("rpc", "shell", "run", "command=uname -r",
                                "--json-format", "mcollective")
    assert proc.returncode == 0, proc.stderr
    replies = json.loads(proc.stdout)  # one valid JSON document
    assert sorted(r["sender"] for r in replies) == ["n1", "n2", "n3"]
    for reply in replies:
        assert reply["statuscode"] == 0
        assert reply["data"]["stdout"].strip() == os.uname().release
        assert reply["data"]["exitcode"] == 0
        assert reply["data"]["success"] is True
    text = local_collective.mco("rpc", "shell", "run", "command=echo from-the-fleet")
    assert text.stdout.count("Stdout: from-the-fleet") == 3
    assert "Exit Code: 0" in text.stdout
    assert "Finished processing 3 / 3 hosts" in text.stdout


def test_background_job_on_one_node(local_collective: LocalCollective) -> None:
    for identity in ("n1", "n2"):
        local_collective.add_node(identity)
    started = local_collective.mco("rpc", "shell", "start",
                                   "command=sh -c 'echo step1; sleep 0.3; echo step2'",
                                   "-I", "n1", "--json-format", "mcollective")
    [reply] = json.loads(started.stdout)
    assert reply["sender"] == "n1" and reply["statuscode"] == 0
    handle = reply["data"]["handle"]
    deadline = time.monotonic() + 20
    while True:
        status = local_collective.mco("rpc", "shell", "status", f"handle={handle}",
                                      "-I", "n1", "--json-format", "mcollective")
        [data] = [r["data"] for r in json.loads(status.stdout)]
        if data["status"] == "stopped" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert data == {"status": "stopped", "stdout": "step1\nstep2\n", "stderr": "",
                    "exitcode": 0}
    listed = json.loads(local_collective.mco("rpc", "shell", "list",
                                             "--json-format", "mcollective").stdout)
    jobs = {r["sender"]: r["data"]["jobs"] for r in listed}
    assert list(jobs["n1"]) == [handle]
    assert jobs["n2"] == {}
    # n2 has no such job: a clear failure, not silence.
    other = json.loads(local_collective.mco("rpc", "shell", "status", f"handle={handle}",
                                            "-I", "n2", "--json-format", "mcollective").stdout)
    assert other[0]["statuscode"] == 1
    assert "no job with handle" in other[0]["statusmsg"]


def test_bad_inputs(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    missing = local_collective.mco("rpc", "shell", "run")
    assert missing.returncode != 0
    assert "command" in missing.stderr
    handle = local_collective.mco("rpc", "shell", "status", "handle=../../etc/passwd")
    assert handle.returncode != 0
    assert "'handle'" in handle.stderr
    timeout = local_collective.mco("rpc", "shell", "run", "command=true", "timeout=soon")
    assert timeout.returncode != 0
    assert "'timeout'" in timeout.stderr
    quotes = local_collective.mco("rpc", "shell", "run", "command=echo 'oops",
                                  "--json-format", "mcollective")
    [reply] = json.loads(quotes.stdout)
    assert quotes.returncode == 2  # the node failed the request: mco says so
    assert reply["statuscode"] == 1
    assert reply["statusmsg"].startswith("Command exited with code 2")
