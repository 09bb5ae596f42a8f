"""The pieces of the puppet agent that need no Puppet: validators, the DDL as
published, the command lines of both run modes, the state file readers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mcollective.errors import RPCAborted, ValidatorError
from mcollective_agent_puppet import Puppet
from mcollective_agent_puppet.manager import PuppetManager, pid_alive, seconds_to_human
from mcollective_agent_puppet.validators import (
    puppet_server_address,
    puppet_tags,
    puppet_variable,
    split_server,
)


def test_ddl_is_choria_s_unchanged() -> None:
    from importlib import resources

    ours = resources.files("mcollective_agent_puppet") / "puppet.json"
    from mcollective.testing import choria_corpus_path

    # Byte for byte the file Choria publishes (core vendors the corpus for such checks).
    assert ours.read_bytes() == (choria_corpus_path() / "puppet.json").read_bytes()
    ddl = Puppet.load_ddl()
    assert sorted(ddl.actions) == ["disable", "enable", "last_run_summary", "resource",
                                   "runonce", "status"]


@pytest.mark.parametrize("value", ["apache", "apache::mod,ntp", "a.b-c", "x_1"])
def test_tags_ok(value: str) -> None:
    puppet_tags(value)


@pytest.mark.parametrize("value", ["-x", "a b", "ok,;rm", ""])
def test_tags_refused(value: str) -> None:
    with pytest.raises(ValidatorError):
        puppet_tags(value)


def test_variable_and_server() -> None:
    puppet_variable("production")
    with pytest.raises(ValidatorError):
        puppet_variable("prod-1")
    puppet_server_address("puppet.example.com:8140")
    puppet_server_address("puppet")
    puppet_server_address("[::1]:8140")
    for bad in ("puppet:99999", "-o:1", "a b", "host:port"):
        with pytest.raises(ValidatorError):
            puppet_server_address(bad)
    assert split_server("p.example:8141") == ("p.example", 8141)


def manager(tmp_path: Path, **kwargs) -> PuppetManager:
    overrides = {name: str(tmp_path / name) for name in (
        "agent_catalog_run_lockfile", "agent_disabled_lockfile", "lastrunfile",
        "lastrunreport", "resourcefile", "pidfile")}
    return PuppetManager(puppet=["puppet"], overrides=overrides, **kwargs)


def test_agent_mode_command_line(tmp_path: Path) -> None:
    m = manager(tmp_path, dir_options={"confdir": "/c"})
    assert m.run_command(noop=True, tags=["a", "b"], environment="dev",
                         server=("p", 8141), splay=True, splaylimit=20,
                         use_cached_catalog=False) == [
        "puppet", "agent", "--onetime", "--no-daemonize", "--confdir=/c",
        "--color=false", "--show_diff", "--verbose", "--noop", "--tags=a,b",
        "--environment=dev", "--server=p", "--serverport=8141",
        "--no-use_cached_catalog", "--splay", "--splaylimit=20"]
    assert m.run_command()[-1] == "--no-splay"


def test_apply_mode_command_line(tmp_path: Path) -> None:
    m = manager(tmp_path, run_mode="apply", apply_manifest="/site.pp")
    assert m.run_command(noop=False, skip_tags=["x"]) == [
        "puppet", "apply", "--color=false", "--no-noop", "--skip_tags=x", "/site.pp"]


def test_lock_files(tmp_path: Path) -> None:
    m = manager(tmp_path)
    assert m.disabled_message() is None
    m.disable("maintenance")
    assert json.loads((tmp_path / "agent_disabled_lockfile").read_text()) == {
        "disabled_message": "maintenance"}
    with pytest.raises(RPCAborted, match="Already disabled"):
        m.disable("again")
    m.enable()
    with pytest.raises(RPCAborted, match="Already enabled"):
        m.enable()
    (tmp_path / "agent_catalog_run_lockfile").write_text(str(os.getpid()))
    assert m.applying()
    (tmp_path / "agent_catalog_run_lockfile").write_text("999999999")
    assert not m.applying()
    assert pid_alive(tmp_path / "missing") is None


def test_seconds_to_human() -> None:
    assert seconds_to_human(5) == "5 seconds"
    assert seconds_to_human(125) == "2 minutes 05 seconds"
    assert seconds_to_human(3 * 86400 + 7322) == "3 days 2 hours 2 minutes 02 seconds"


def test_status_with_a_daemon_and_without_runs(tmp_path: Path) -> None:
    from mcollective.testing.agents import build_agent

    settings = "".join(f"plugin.puppet.{name} = {tmp_path / name}\n" for name in (
        "agent_catalog_run_lockfile", "agent_disabled_lockfile", "lastrunfile",
        "lastrunreport", "resourcefile", "pidfile"))
    agent = build_agent(Puppet, tmp_path / "state", settings)
    agent.startup()  # as the daemon does after creating it
    status = agent.current_status()
    assert status["status"] == "stopped" and status["daemon_present"] is False
    assert status["message"] == "Currently stopped; Puppet has not run yet"
    (tmp_path / "pidfile").write_text(f"{os.getpid()}\n")
    status = agent.current_status()
    assert status["status"] == "idling" and status["idling"] is True
    (tmp_path / "lastrunfile").write_text("time:\n  last_run: 100\n")
    assert "last completed run" in agent.current_status()["message"]


def test_splayed_run_holds_the_run_lock(tmp_path: Path) -> None:
    """An apply-mode run splayed by the agent holds the catalog run lock from the
    request on, so status says 'applying' and a second run is refused meanwhile; the
    lock goes when the run ends. (``sleep`` stands in for ``puppet apply`` here; the
    real one runs in test_puppet_e2e.py.)"""
    import time

    m = manager(tmp_path, run_mode="apply", apply_manifest="/site.pp")
    m.start_run(["sleep", "1"], delay=0.5)
    assert m.applying()
    deadline = time.monotonic() + 60
    while m.applying() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not m.applying()
    assert not (tmp_path / "agent_catalog_run_lockfile").exists()
