"""process list against the real process table, with processes started for the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import psutil
import pytest

from mcollective.errors import DDLValidationError
from mcollective_agent_process import process_entry
from mcollective_agent_process.agent import STATE_LETTERS, command_line, resolve_uid


@pytest.fixture
def sleeper() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A process whose command line carries a unique marker."""
    marker = f"mco-process-test-{uuid.uuid4().hex}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        yield proc, marker
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def zombie() -> Iterator[int]:
    """A child that has exited but is not reaped yet: a zombie until we wait for it."""
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "child did not become a zombie"
        time.sleep(0.01)
    try:
        yield proc.pid
    finally:
        proc.wait()


def test_pattern_finds_exactly_the_marked_process(make_agent, call, sleeper) -> None:
    proc, marker = sleeper
    reply = call(make_agent(), "list", pattern=marker)
    assert reply.statuscode == 0, reply.statusmsg
    [entry] = reply["pslist"]
    assert entry["pid"] == proc.pid
    assert entry["ppid"] == os.getpid()
    assert marker in entry["cmdline"]
    assert entry["username"] == psutil.Process().username()
    assert entry["uid"] == os.getuid()
    assert entry["state"] in {"S", "R"}
    assert isinstance(entry["rss"], int) and entry["rss"] > 0
    assert isinstance(entry["vsize"], int) and entry["vsize"] >= entry["rss"] * 1024
    assert isinstance(entry["pctmem"], float)
    assert isinstance(entry["starttime"], int)
    assert abs(entry["starttime"] - time.time()) < 120


def test_without_filters_lists_everything_including_kernel_threads(make_agent, call) -> None:
    pslist = call(make_agent(), "list")["pslist"]
    pids = [entry["pid"] for entry in pslist]
    assert os.getpid() in pids
    assert pids == sorted(pids)
    assert len(pids) >= len(psutil.pids()) // 2


def test_user_filter(make_agent, call, sleeper) -> None:
    proc, marker = sleeper
    me = psutil.Process().username()
    mine = call(make_agent(), "list", user=me, pattern=marker)["pslist"]
    assert [e["pid"] for e in mine] == [proc.pid]
    by_uid = call(make_agent(), "list", user=str(os.getuid()), pattern=marker)["pslist"]
    assert [e["pid"] for e in by_uid] == [proc.pid]
    other = "nobody" if me != "nobody" else "root"
    assert call(make_agent(), "list", user=other, pattern=marker)["pslist"] == []


def test_unknown_user_owns_nothing(make_agent, call) -> None:
    reply = call(make_agent(), "list", user="no-such-user-here")
    assert reply.statuscode == 0
    assert reply["pslist"] == []


def test_just_zombies(make_agent, call, zombie) -> None:
    reply = call(make_agent(), "list", just_zombies=True)
    by_pid = {entry["pid"]: entry for entry in reply["pslist"]}
    assert zombie in by_pid
    assert by_pid[zombie]["state"] == "Z"
    assert all(entry["state"] == "Z" for entry in reply["pslist"])
    assert os.getpid() not in by_pid


def test_invalid_regular_expression_is_refused_by_the_ddl(make_agent, call) -> None:
    """The DDL's ``pattern`` validator: ``mco`` refuses it before sending."""
    with pytest.raises(DDLValidationError, match="'pattern': invalid regular expression"):
        call(make_agent(), "list", pattern="(unclosed")
    with pytest.raises(DDLValidationError, match="invalid regular expression"):
        call(make_agent(), "list", pattern="(a)\\1")  # a backreference: RE2 has none


def test_invalid_regular_expression_is_invalid_data(make_agent) -> None:
    """A caller that skips the DDL check gets status 4 from the agent itself."""
    from mcollective.agent import AgentReply, AgentRequest
    from mcollective.errors import InvalidRPCData

    agent = make_agent()
    with pytest.raises(InvalidRPCData, match="invalid regular expression /\\(unclosed/"):
        agent.list(AgentRequest(agent="process", action="list", data={"pattern": "(unclosed"},
                                caller="user=t", sender="t", id="0" * 32, time=0.0,
                                collective="mcollective", timeout=10), AgentReply())


def test_regex_characters_are_accepted(make_agent, call) -> None:
    """``pattern`` is a regex, never given to a shell: ``a|b`` and ``$`` are fine
    (Choria's DDL said shellsafe, which refused them)."""
    assert call(make_agent(), "list", pattern="python|mcollectived$").statuscode == 0


def test_catastrophic_pattern_answers_at_once(make_agent, call) -> None:
    """``(.*)*(.*)*(.*)*\\x01`` against every command line: minutes for a backtracking
    engine (holding the GIL), linear with RE2."""
    reply = call(make_agent(), "list", pattern="(.*)*(.*)*(.*)*\\x01")
    assert reply.statuscode == 0 and reply["pslist"] == []


def test_command_line_of_a_process_without_one() -> None:
    assert command_line({"cmdline": [], "name": "kthreadd"}) == "[kthreadd]"
    assert command_line({"cmdline": ["a", "b c"], "name": "a"}) == "a b c"


def test_entry_from_sparse_info() -> None:
    entry = process_entry({"pid": 7, "name": "x", "status": psutil.STATUS_ZOMBIE})
    assert entry["pid"] == 7
    assert entry["state"] == "Z"
    assert entry["cmdline"] == "[x]"
    assert entry["rss"] == 0 and entry["pctcpu"] == 0.0


def test_resolve_uid() -> None:
    assert resolve_uid("root") == 0
    assert resolve_uid("0") == 0
    assert resolve_uid("12345") == 12345
    assert resolve_uid("no-such-user-here") is None


def test_every_psutil_state_has_a_letter() -> None:
    statuses = {getattr(psutil, n) for n in dir(psutil) if n.startswith("STATUS_")}
    assert statuses <= set(STATE_LETTERS)
