"""``mco service`` through real daemons and the real ``mco``, on this machine's init
system. Where systemd does not run (containers, SysV and OpenRC hosts) the agent drives
init scripts; the tests give the daemons a directory of their own holding one real LSB
init script, which starts and stops a real background process."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcollective.testing import LocalCollective
from mcollective_agent_service.systemd import systemd_running

SCRIPT = """\
#!/bin/sh
# An LSB init script managing a sleep(1) through a pid file.
PIDFILE={pidfile}
running() {{ [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
case "$1" in
  start) running && exit 0
         setsid sleep 600 </dev/null >/dev/null 2>&1 &
         echo $! > "$PIDFILE" ;;
  stop) running && kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE" ;;
  restart) "$0" stop; "$0" start ;;
  status) running && exit 0; exit 3 ;;
  *) echo "Usage: $0 {{start|stop|restart|status}}" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def init_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "init.d"
    directory.mkdir()
    pidfile = tmp_path / "mcotest.pid"
    script = directory / "mcotest"
    script.write_text(SCRIPT.format(pidfile=pidfile))
    script.chmod(0o755)
    (directory / "not-executable").write_text("#!/bin/sh\nexit 0\n")
    try:
        yield directory
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass


def _nodes(collective: LocalCollective, init_dir: Path, provider: str = "sysv") -> None:
    for identity in ("n1", "n2"):
        collective.add_node(identity, settings={"plugin.service.provider": provider,
                                                "plugin.service.init_dir": str(init_dir)})


def test_a_veteran_s_service_runbook(local_collective: LocalCollective, init_dir: Path
                                     ) -> None:
    _nodes(local_collective, init_dir)
    # MCollective's order and the other one give the same answer.
    for words in (("mcotest", "status"), ("status", "mcotest")):
        proc = local_collective.mco("service", *words)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "   n1: stopped" in proc.stdout and "   n2: stopped" in proc.stdout
        assert "Summary of Service Status:" in proc.stdout
        assert "   stopped = 2" in proc.stdout

    started = local_collective.mco("service", "mcotest", "start", "-I", "n1")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "   n1: running" in started.stdout
    status = local_collective.mco("service", "status", "mcotest")
    assert "   running = 2" in status.stdout  # one machine: both nodes see it running

    again = local_collective.mco("service", "mcotest", "start", "-I", "n1")
    assert again.returncode == 2
    assert "n1: Could not start 'mcotest': Service is already running" in again.stdout

    restarted = local_collective.mco("service", "restart", "mcotest", "-I", "n2")
    assert restarted.returncode == 0 and "   n2: running" in restarted.stdout
    stopped = local_collective.mco("service", "mcotest", "stop", "-I", "n2", "-j")
    assert stopped.returncode == 0, stopped.stderr
    assert [(r["sender"], r["data"]["status"])
            for r in json.loads(stopped.stdout)["replies"]] == [("n2", "stopped")]

    missing = local_collective.mco("service", "no-such-service", "status")
    assert missing.returncode == 2
    assert f"no executable init script {init_dir}/no-such-service" in missing.stdout
    broken = local_collective.mco("service", "not-executable", "status", "-I", "n1")
    assert "no executable init script" in broken.stdout


def test_changing_every_node_asks_first(local_collective: LocalCollective, init_dir: Path
                                        ) -> None:
    _nodes(local_collective, init_dir)
    proc = local_collective.mco("service", "mcotest", "start")
    assert proc.returncode == 1
    assert "refusing to start services on every node without a filter" in proc.stderr
    assert "running" not in local_collective.mco("service", "mcotest", "status").stdout
    # Identities piped in (`mco find ... | mco service ...`) are a node list: no question.
    piped = local_collective.mco("service", "mcotest", "start", input="n1\n")
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert "   n1: running" in piped.stdout and "n2:" not in piped.stdout
    stop = local_collective.mco("service", "mcotest", "stop", "-y", "-I", "n2")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert local_collective.mco("service", "mcotest", "start", "-y").returncode in (0, 2)
    assert "   running = 2" in local_collective.mco("service", "mcotest", "status").stdout


@pytest.mark.skipif(systemd_running(), reason="systemd is running here")
def test_without_the_chosen_manager_the_node_says_why(local_collective: LocalCollective,
                                                      tmp_path: Path) -> None:
    _nodes(local_collective, tmp_path / "absent", provider="systemd")
    proc = local_collective.mco("service", "cron", "status", "-I", "n1")
    assert proc.returncode == 2
    assert textwrap.dedent("""\
        n1: cannot manage services on this node (plugin.service.provider = systemd): \
systemd is not running on this node (/run/systemd/system is missing)""") in proc.stdout


def test_usage_errors(local_collective: LocalCollective, init_dir: Path) -> None:
    local_collective.add_node("n1")
    for args, text in ((("cron",), "the action must be one of status, start, stop, restart"),
                       (("cron", "reload"), "the action must be one of"),
                       (("status",), "needs one service name"),
                       (("status", "a", "b"), "needs one service name")):
        proc = local_collective.mco("service", *args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr
    bad = local_collective.mco("service", "status", "ng*")
    assert bad.returncode != 0 and "not a valid service name" in bad.stderr
