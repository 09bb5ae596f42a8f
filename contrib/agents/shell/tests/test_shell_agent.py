"""The shell agent running real commands on this machine."""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Callable

import pytest

from mcollective.agent import AgentReply
from mcollective.errors import DDLValidationError
from mcollective_agent_shell import Shell, shell_argv
from mcollective_agent_shell.jobwrapper import exit_status

is_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# --- run ---------------------------------------------------------------------------


def test_run_captures_output_and_exit_code(make_agent, call) -> None:
    reply = call(make_agent(), "run", command="uname -r")
    assert reply.statuscode == 0, reply.statusmsg
    assert reply["stdout"].strip() == os.uname().release
    assert reply["stderr"] == ""
    assert reply["exitcode"] == 0
    assert reply["success"] is True


def test_a_failing_command_fails_the_request_and_keeps_its_output(make_agent, call) -> None:
    reply = call(make_agent(), "run", command="ls /no/such/path")
    assert reply.statuscode == 1
    assert reply.statusmsg.startswith("Command exited with code 2: ")
    assert "No such file or directory" in reply.statusmsg
    assert reply["exitcode"] == 2
    assert reply["success"] is False
    assert "No such file or directory" in reply["stderr"]


def test_run_goes_through_sh_as_typed(make_agent, call, tmp_path) -> None:
    target = tmp_path / "x"
    reply = call(make_agent(), "run",
                 command=f"X=two; echo one $X | tr a-z A-Z > {target} && cat {target}")
    assert reply.statuscode == 0, reply.statusmsg
    assert reply["stdout"] == "ONE TWO\n"
    assert target.read_text() == "ONE TWO\n"
    # A pipeline's status is its last command's, as at a prompt.
    failing = call(make_agent(), "run", command="echo x | grep -q no-such-text")
    assert (failing.statuscode, failing["exitcode"]) == (1, 1)
    assert failing.statusmsg == "Command exited with code 1"


def test_run_an_explicit_shell(make_agent, call) -> None:
    reply = call(make_agent(), "run", command="sh -c 'echo one; echo two >&2; exit 3'")
    assert (reply["stdout"], reply["stderr"], reply["exitcode"]) == ("one\n", "two\n", 3)
    assert reply.statusmsg == "Command exited with code 3: two"


def test_run_works_in_the_root_directory(make_agent, call) -> None:
    assert call(make_agent(), "run", command="pwd")["stdout"] == "/\n"


def test_run_timeout_kills_the_command(make_agent, call) -> None:
    started = time.monotonic()
    reply = call(make_agent(), "run",
                 command="sh -c 'echo before; sleep 30; echo after'", timeout=0.5)
    assert time.monotonic() - started < 10
    assert reply.statuscode == 1
    assert reply["stdout"] == "before\n"
    assert reply["success"] is False
    assert reply["exitcode"] == 137
    assert reply.statusmsg == "Command was killed after reaching its timeout of 0.5 seconds"


def test_run_is_bounded_by_the_action_time_limit(make_agent, call) -> None:
    started = time.monotonic()
    reply = call(make_agent(), "run", command="sleep 30", action_timeout=2.5)
    # Killed one second before the action's own deadline, so the node can still answer.
    assert time.monotonic() - started < 2.5
    assert reply.statuscode == 1
    assert reply["success"] is False
    assert reply.statusmsg == "Command was killed after reaching the agent's 2.5 second limit"
    # A timeout input longer than what is left is capped the same way.
    capped = call(make_agent(), "run", command="sleep 30", timeout=60.0, action_timeout=2.0)
    assert "the agent's 2 second limit" in capped.statusmsg


def test_command_not_found(make_agent, call) -> None:
    reply = call(make_agent(), "run", command="no-such-program-for-mco --help")
    assert reply.statuscode == 1
    assert reply["exitcode"] == 127
    assert reply.statusmsg.startswith("Command exited with code 127: ")
    assert "no-such-program-for-mco: not found" in reply.statusmsg


@pytest.mark.parametrize("command", ["", "   "])
def test_empty_commands_are_invalid(make_agent, call, command: str) -> None:
    reply = call(make_agent(), "run", command=command)
    assert reply.statuscode == 4


def test_a_shell_syntax_error_is_the_shell_s_answer(make_agent, call) -> None:
    reply = call(make_agent(), "run", command="echo 'unbalanced")
    assert reply.statuscode == 1
    assert reply["exitcode"] == 2
    assert "Unterminated quoted string" in reply["stderr"]


@is_root
def test_run_as_another_user(make_agent, call) -> None:
    nobody = pwd.getpwnam("nobody")
    reply = call(make_agent(), "run", command="id -u", user="nobody")
    assert reply.statuscode == 0, reply.statusmsg
    assert reply["stdout"].strip() == str(nobody.pw_uid)
    env = call(make_agent(), "run", command="env", user="nobody")["stdout"]
    assert f"HOME={nobody.pw_dir}\n" in env and "USER=nobody\n" in env


@is_root
def test_start_as_another_user(make_agent, call) -> None:
    agent = make_agent()
    handle = call(agent, "start", command="id -un", user="nobody")["handle"]
    wait_for(lambda: call(agent, "status", handle=handle)["status"] == "stopped")
    assert call(agent, "status", handle=handle)["stdout"] == "nobody\n"


def test_a_job_whose_supervisor_died(make_agent, call) -> None:
    agent = make_agent()
    handle = call(agent, "start", command="true")["handle"]
    wait_for(lambda: call(agent, "status", handle=handle)["status"] == "stopped")
    (agent.jobs.root / handle / "exitstatus").unlink()  # as if it was never recorded
    reply = call(agent, "status", handle=handle)
    assert reply["status"] == "stopped"
    assert reply["exitcode"] is None


def test_unknown_user_is_invalid(make_agent, call) -> None:
    reply = call(make_agent(), "run", command="id", user="no-such-user-for-mco")
    assert reply.statuscode == 4
    assert "unknown user" in reply.statusmsg


def test_run_as_oneself_needs_no_switch(make_agent, call) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert call(make_agent(), "run", command="id -u", user=me)["stdout"].strip() == \
        str(os.geteuid())


def test_float_timeout_type_is_checked(make_agent, call) -> None:
    with pytest.raises(DDLValidationError, match="'timeout'"):
        call(make_agent(), "run", command="true", timeout="soon")


# --- background jobs -------------------------------------------------------------------


def test_start_status_and_offsets(make_agent, call) -> None:
    agent = make_agent()
    started = call(agent, "start",
                   command="sh -c 'echo hello; echo oops >&2; sleep 0.3; echo world'")
    assert started.statuscode == 0, started.statusmsg
    handle = started["handle"]
    assert len(handle) == 36
    wait_for(lambda: call(agent, "status", handle=handle)["status"] == "stopped")
    reply = call(agent, "status", handle=handle)
    assert reply["stdout"] == "hello\nworld\n"
    assert reply["stderr"] == "oops\n"
    assert reply["exitcode"] == 0
    later = call(agent, "status", handle=handle, stdout_offset=6, stderr_offset=5)
    assert (later["stdout"], later["stderr"]) == ("world\n", "")


def test_running_job_has_no_exit_code_yet(make_agent, call) -> None:
    agent = make_agent()
    handle = call(agent, "start", command="sleep 30")["handle"]
    try:
        reply = call(agent, "status", handle=handle)
        assert reply["status"] == "running"
        assert reply["exitcode"] is None
    finally:
        call(agent, "kill", handle=handle)


def test_jobs_survive_across_agent_instances(make_agent, call) -> None:
    first = make_agent()
    handle = call(first, "start", command="sh -c 'sleep 0.2; echo done'")["handle"]
    second = make_agent()  # e.g. the daemon reloaded its agents
    wait_for(lambda: call(second, "status", handle=handle)["status"] == "stopped")
    assert call(second, "status", handle=handle)["stdout"] == "done\n"


def test_kill(make_agent, call) -> None:
    agent = make_agent()
    handle = call(agent, "start", command="sh -c 'sleep 30 & sleep 30; wait'")["handle"]
    assert call(agent, "kill", handle=handle).statuscode == 0
    wait_for(lambda: call(agent, "status", handle=handle)["status"] == "stopped")
    status = call(agent, "status", handle=handle)
    assert status["exitcode"] == 128 + 15
    job = next(j for j in agent.jobs.jobs() if j.handle == handle)
    assert job.describe(signal=True)["signal"] == 15
    again = call(agent, "kill", handle=handle)
    assert again.statuscode == 1
    assert "is not running" in again.statusmsg


def test_a_started_missing_program_ends_as_the_shell_says(make_agent, call) -> None:
    agent = make_agent()
    reply = call(agent, "start", command="no-such-program-for-mco")
    assert reply.statuscode == 0, reply.statusmsg
    wait_for(lambda: call(agent, "status", handle=reply["handle"])["status"] == "stopped")
    status = call(agent, "status", handle=reply["handle"])
    assert status["exitcode"] == 127
    assert "no-such-program-for-mco: not found" in status["stderr"]


def test_unknown_and_invalid_handles(make_agent, call) -> None:
    agent = make_agent()
    missing = call(agent, "status", handle="00000000-0000-0000-0000-000000000000")
    assert missing.statuscode == 1
    assert "no job with handle" in missing.statusmsg
    assert call(agent, "status", handle="").statuscode == 4
    with pytest.raises(DDLValidationError, match="'handle'"):
        call(agent, "status", handle="../../etc")


def test_statuses_and_list(make_agent, call) -> None:
    agent = make_agent()
    done = call(agent, "start", command="echo finished")["handle"]
    running = call(agent, "start", command="sleep 30")["handle"]
    try:
        wait_for(lambda: call(agent, "status", handle=done)["status"] == "stopped")
        reply = call(agent, "statuses", handles=[done, running, "nope", 7])
        statuses = reply["statuses"]
        assert statuses[done] == {"status": "stopped", "exitcode": 0,
                                  "stdout": "finished\n", "stderr": ""}
        assert statuses[running]["status"] == "running"
        assert statuses["nope"]["status"] == "error"
        assert statuses["7"]["status"] == "error"
        started = time.monotonic()
        jobs = call(agent, "list")["jobs"]
        assert time.monotonic() - started < 0.4  # a running job is not waited for
        assert set(jobs) == {done, running}
        assert jobs[done] == {"id": done, "command": "echo finished", "status": "stopped",
                              "exitcode": 0, "signal": 0}
        assert jobs[running] == {"id": running, "command": "sleep 30", "status": "running",
                                 "signal": None}
        json.dumps(jobs)
    finally:
        call(agent, "kill", handle=running)


def test_ended_jobs_are_pruned(make_agent, call) -> None:
    agent = make_agent("plugin.shell.job_retention = 0.00001\n")  # about a second
    handle = call(agent, "start", command="true")["handle"]
    wait_for(lambda: call(agent, "status", handle=handle)["status"] == "stopped")
    time.sleep(1.2)
    agent.startup()
    assert call(agent, "list")["jobs"] == {}


def test_state_path_setting(make_agent, call, tmp_path) -> None:
    agent = make_agent(f"plugin.shell.state_path = {tmp_path / 'jobs'}\n")
    handle = call(agent, "start", command="true")["handle"]
    assert (tmp_path / "jobs" / "n1" / handle / "command").is_file()


def test_default_state_path_is_under_the_statedir(make_agent, tmp_path) -> None:
    assert make_agent().jobs.root == tmp_path / "state" / "shell" / "n1"


# --- helpers --------------------------------------------------------------------------


def test_shell_argv() -> None:
    assert shell_argv("ls -l 'a b' | wc") == ["/bin/sh", "-c", "ls -l 'a b' | wc"]


def test_exit_status() -> None:
    assert exit_status(0) == {"exitcode": 0, "signal": 0}
    assert exit_status(3) == {"exitcode": 3, "signal": 0}
    assert exit_status(-9) == {"exitcode": 137, "signal": 9}


def test_replies_are_plain_json(make_agent, call) -> None:
    reply: AgentReply = call(make_agent(), "run", command="echo hi")
    assert json.loads(json.dumps(reply.data)) == reply.data
    assert isinstance(make_agent(), Shell)
