"""The Facter facts source against Debian's real ``facter``, through real daemons and
the real ``mco``.

Where Facter must fail or hang, a small script stands in for it (named in each test):
a real Facter cannot be made to do that on demand.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from mcollective.config import config_from_text
from mcollective.errors import ConfigError
from mcollective.facts_cache import CommandFactsSource
from mcollective.testing import LocalCollective
from mcollective.testing.brokers import require_program
from mcollective_facts_facter import plugin


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def wait_for(predicate, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_settings_and_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = config_from_text("plugin.facter.command = /opt/puppetlabs/bin/facter --json\n"
                              "plugin.facter.legacy = true\nplugin.facter.timeout = 5\n",
                              role="server")
    source = plugin.mco_facts_create(config)
    assert source.command == ["/opt/puppetlabs/bin/facter", "--json", "--show-legacy"]
    assert source.timeout == 5
    assert source.cache_time == 300
    with pytest.raises(ConfigError, match=r"plugin\.facter\.timeout"):
        plugin.mco_facts_create(config_from_text("plugin.facter.timeout = 0\n",
                                                 role="server"))
    # An unknown key is ignored with a warning naming it (as for every plugin).
    plugin.mco_facts_create(config_from_text("plugin.facter.comand = x\n", role="server"))
    assert "did you mean 'plugin.facter.command'" in caplog.text
    with pytest.raises(ConfigError, match="cannot split"):
        plugin.mco_facts_create(config_from_text("plugin.facter.command = 'x\n",
                                                 role="server"))


def test_real_facter_structured_facts() -> None:
    require_program("facter")
    source = plugin.mco_facts_create(config_from_text("", role="server"))
    assert source.get() == {}  # nothing yet, and no waiting for Facter
    assert source.wait_loaded(120), source.describe()
    facts = source.get()
    assert facts["os"]["family"] == "Debian"  # structured, as Facter prints it
    assert isinstance(facts["os"]["release"], dict)
    assert facts is source.get()  # cached: the same object
    info = source.describe()
    assert info["loaded"] and info["refreshes"] == 1 and info["failures"] == 0


def test_failing_facter_keeps_last_good_facts(tmp_path: Path, caplog) -> None:
    """A script stands in for Facter: it prints facts, then fails once 'mode' says so."""
    mode = tmp_path / "mode"
    mode.write_text("good")
    fake = script(tmp_path / "facter", f"""
if [ "$(cat {mode})" = good ]; then echo '{{"os": {{"family": "Debian"}}}}'; exit 0; fi
echo 'Facter: something broke' >&2; exit 3
""")
    source = CommandFactsSource("facter", [str(fake)], cache_time=0, timeout=30,
                                retry_time=0)
    source.start()
    assert source.wait_loaded(30)
    good = source.get()
    assert good == {"os": {"family": "Debian"}}
    mode.write_text("bad")
    source.reload()
    # cache_time 0: each look starts a refresh when none runs (one may be under way).
    wait_for(lambda: source.get() is not None and source.describe()["failures"] >= 1,
             30, "a failed refresh")
    assert source.get() is good
    info = source.describe()
    assert "exited with code 3: Facter: something broke" in info["last_error"]
    assert "facts source 'facter' failed, keeping its last good facts" in caplog.text
    mode.write_text("good")
    wait_for(lambda: source.get() is not None and source.describe()["consecutive_failures"]
             == 0, 30, "recovery")


def test_facter_exiting_1_with_facts_is_used(tmp_path: Path) -> None:
    """Facter exits 1 after any resolution error but prints all other facts (a script
    stands in, to make that happen on demand)."""
    fake = script(tmp_path / "facter", """
echo '{"kernel": "Linux"}'; echo 'ERROR Facter - Permission denied /proc/1/environ' >&2
exit 1
""")
    source = CommandFactsSource("facter", [str(fake)], cache_time=300, timeout=30)
    source.start()
    assert source.wait_loaded(30)
    assert source.get() == {"kernel": "Linux"}
    assert "exited with code 1" in source.describe()["warning"]


@pytest.fixture
def collective(local_collective: LocalCollective) -> LocalCollective:
    return local_collective


def test_find_facts_inventory_through_daemons(collective: LocalCollective) -> None:
    """Facts from the real Facter are seen by filters, mco facts and mco inventory like
    any other facts; a node without the source does not match."""
    require_program("facter")
    collective.add_node("puppet1", facts={"role": "web"},
                        settings={"factsource": "yaml, facter"})
    collective.add_node("plain1", facts={"role": "web", "os": {"family": "RedHat"}})

    def found() -> list[str]:
        out = collective.mco("find", "-F", "os.family=Debian").stdout.split()
        return out if out == ["puppet1"] else []

    wait_for(found, 120, "facter facts of puppet1")
    # Facter merged after yaml: yaml's own facts are still there.
    assert collective.mco("find", "-F", "role=web", "-F",
                          "os.family=Debian").stdout.split() == ["puppet1"]
    assert collective.mco("find", "-F", "os.family=RedHat").stdout.split() == ["plain1"]
    facts = collective.mco("facts", "os.family")
    assert "Debian" in facts.stdout and "RedHat" in facts.stdout, facts.stdout
    inventory = collective.mco("inventory", "puppet1")
    assert "os" in inventory.stdout and "kernel" in inventory.stdout, inventory.stdout
    stats = json.loads(collective.mco("rpc", "rpcutil", "daemon_stats", "-I", "puppet1",
                                      "--json-format", "mcollective").stdout)
    described = stats[0]["data"]["facts"]["facter"]
    assert described["loaded"] and described["failures"] == 0


def test_hanging_facter_does_not_delay_ping(collective: LocalCollective,
                                            tmp_path: Path) -> None:
    """A Facter that hangs (a script that sleeps, standing in for it through
    ``plugin.facter.command``) does not delay anything: ``mco ping`` gets the node's
    answer within its normal timeout while the refresh is still running, and
    ``daemon_stats`` says it is."""
    hang = script(tmp_path / "facter-hangs", "sleep 600\n")
    collective.add_node("hung1", settings={"factsource": "yaml, facter",
                                          "plugin.facter.command": str(hang),
                                          "plugin.facter.timeout": "500"})
    collective.add_node("other1")
    ping = collective.mco("ping")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "hung1" in ping.stdout and "other1" in ping.stdout
    found = collective.mco("find", "-F", "role=none")  # filters evaluated meanwhile
    assert found.returncode in (0, 1)
    stats = json.loads(collective.mco("rpc", "rpcutil", "daemon_stats", "-I", "hung1",
                                      "--json-format", "mcollective").stdout)
    described = stats[0]["data"]["facts"]["facter"]
    assert described["refreshing"] is True
    assert described["loaded"] is False


def test_timeout_kills_facter_and_is_reported(collective: LocalCollective,
                                              tmp_path: Path) -> None:
    """A Facter outliving plugin.facter.timeout is killed and counted (a sleeping
    script stands in for it); the log names the source."""
    hang = script(tmp_path / "facter-slow", "sleep 600\n")
    node = collective.add_node("slow1", settings={"factsource": "yaml, facter",
                                                 "plugin.facter.command": str(hang),
                                                 "plugin.facter.timeout": "1"})

    def failures() -> int:
        proc = collective.mco("rpc", "rpcutil", "daemon_stats", "-I", "slow1",
                              "--json-format", "mcollective")
        data = json.loads(proc.stdout)[0]["data"]
        return int(data["facts"]["facter"]["failures"])

    wait_for(failures, 60, "a counted Facter timeout")
    assert "did not finish within 1s and was killed" in node.log()
    assert "facts source 'facter' failed" in node.log()
    assert os.path.exists(hang)


def test_reload_keeps_facts_while_facter_runs_again(collective: LocalCollective,
                                                    tmp_path: Path) -> None:
    """SIGHUP recreates the source; until its Facter run ends, the node keeps answering
    with the facts it had. A script stands in for Facter: its first run prints facts,
    every later one hangs, so only the handed-over facts can match after the reload."""
    import signal

    count = tmp_path / "runs"
    fake = script(tmp_path / "facter", f"""
echo run >> {count}
if [ "$(wc -l < {count})" -gt 1 ]; then sleep 600; fi
echo '{{"os": {{"family": "Debian"}}}}'
""")
    node = collective.add_node("reload1", settings={"factsource": "yaml, facter",
                                                   "plugin.facter.command": str(fake),
                                                   "plugin.facter.timeout": "500"})

    def found() -> bool:
        return collective.mco("find", "-F", "os.family=Debian").stdout.split() \
            == ["reload1"]

    wait_for(found, 60, "the first Facter run")
    node.signal(signal.SIGHUP)
    wait_for(lambda: count.exists() and len(count.read_text().splitlines()) >= 2, 60,
             "Facter running again after the reload")
    assert found()
    stats = json.loads(collective.mco("rpc", "rpcutil", "daemon_stats", "-I", "reload1",
                                      "--json-format", "mcollective").stdout)
    described = stats[0]["data"]["facts"]["facter"]
    assert described["refreshing"] is True and described["loaded"] is False
