"""mcollectived as a process: signals, reload, pid files, daemonizing, bad config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fleet import lines, ok, rpc_json

from mcollective.testing import LocalCollective


def wait_until(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_sigterm_stops_cleanly(local_collective: LocalCollective) -> None:
    node = local_collective.add_node("n1")
    node.signal(signal.SIGTERM)
    assert node.process is not None and node.process.wait(15) == 0
    assert not node.pidfile.exists()
    assert "mcollectived stopped" in node.log()


def test_sighup_reloads_configuration_and_agents(local_collective: LocalCollective) -> None:
    node = local_collective.add_node("n1", facts={"role": "web"})
    assert lines(ok(local_collective.mco("find", "-A", "rpcutil"))) == ["n1"]
    text = node.config.read_text()
    node.config.write_text(text + "plugin.rpcutil.activate_agent = 0\n")
    node.signal(signal.SIGHUP)
    assert wait_until(lambda: "reloaded:" in node.log())
    assert local_collective.mco("find", "-A", "rpcutil").returncode == 1
    node.config.write_text(text + "ttl = not-a-number\n")
    node.signal(signal.SIGHUP)
    assert wait_until(lambda: "reload failed" in node.log())
    assert "ttl" in node.log() and node.alive()
    assert lines(ok(local_collective.mco("ping"))) != []


def test_facts_change_without_restart(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1", facts={"role": "web"})
    assert lines(ok(local_collective.mco("find", "-F", "role=web"))) == ["n1"]
    local_collective.set_facts("n1", {"role": "db"})
    assert wait_until(lambda: local_collective.mco("find", "-F", "role=db").returncode == 0)


def test_second_daemon_with_same_pidfile_refused(local_collective: LocalCollective) -> None:
    node = local_collective.add_node("n1")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mcollectived"), "-c", str(node.config),
         "--pidfile", str(node.pidfile)],
        capture_output=True, text=True, timeout=30, env=local_collective.env())
    assert proc.returncode == 1
    assert "already running" in proc.stderr and str(node.pid) in proc.stderr
    assert node.alive()


def test_daemonize_writes_pidfile_and_serves(local_collective: LocalCollective,
                                             tmp_path: Path) -> None:
    node = local_collective.add_node("bg1", start=False)
    pidfile = tmp_path / "bg.pid"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mcollectived"), "-c", str(node.config),
         "--pidfile", str(pidfile), "--daemonize"],
        capture_output=True, text=True, timeout=30, env=local_collective.env())
    assert proc.returncode == 0
    assert wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    pid = int(pidfile.read_text())
    try:
        [reply] = rpc_json(local_collective, "rpcutil", "daemon_stats", "-I", "bg1")
        assert reply["data"]["pid"] == pid
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not pidfile.exists())


def test_bad_config_names_file_line_and_key(local_collective: LocalCollective) -> None:
    node = local_collective.add_node("n1", start=False)
    node.config.write_text(node.config.read_text() + "registerinterval = often\n")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mcollectived"), "-c", str(node.config)],
        capture_output=True, text=True, timeout=30, env=local_collective.env())
    assert proc.returncode == 1
    line = len(node.config.read_text().splitlines())
    assert f"{node.config}:{line}: key 'registerinterval': expected an integer" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_connector_named_with_suggestion(local_collective: LocalCollective) -> None:
    node = local_collective.add_node("n1", start=False, settings={"connector": "kombuu"})
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mcollectived"), "-c", str(node.config)],
        capture_output=True, text=True, timeout=30, env=local_collective.env())
    assert proc.returncode == 1
    log = node.log() + proc.stderr
    assert "no connector plugin 'kombuu'" in log and "did you mean 'kombu'" in log


def test_client_without_broker_fails_clearly(local_collective: LocalCollective) -> None:
    cfg = local_collective.write_client_config(
        "amqp.cfg", **{"plugin.kombu.url": "pyamqp://guest:guest@127.0.0.1:1//"})
    started = time.monotonic()
    proc = local_collective.mco("ping", "--connection-timeout", "2", config=cfg)
    assert proc.returncode == 1
    assert time.monotonic() - started < 30
    assert "127.0.0.1:1" in proc.stderr and "Traceback" not in proc.stderr
