"""The puppet agent and ``mco puppet`` against Debian's real ``puppet``, through real
daemons and the real ``mco``.

Puppet runs with a private confdir/vardir/publicdir/rundir in the test's directory (never
the system's). Runs use ``plugin.puppet.run_mode = apply`` (``puppet apply`` of a small
manifest): a real puppetserver needs a JVM and minutes to start on the CI machine, so
``agent`` mode is checked by the command line it builds (test_puppet_unit.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import require_program

MANIFEST = """
file { '{target}': content => "managed by puppet\\n" }
notify { 'hello from puppet': }
"""


class Site:
    """A private Puppet installation: directories, a manifest, the options."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs = {name: root / name for name in
                     ("confdir", "vardir", "publicdir", "rundir", "logdir", "codedir")}
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        self.target = root / "managed.txt"
        self.manifest = root / "site.pp"
        self.manifest.write_text(MANIFEST.replace("{target}", str(self.target)))

    def options(self) -> list[str]:
        return [f"--{k}={v}" for k, v in self.dirs.items()]

    def puppet(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["puppet", *args, *self.options()], capture_output=True,
                              text=True, timeout=timeout, check=False)

    def settings(self, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {f"plugin.puppet.{k}": str(v) for k, v in self.dirs.items()}
        out.update({"plugin.puppet.run_mode": "apply",
                    "plugin.puppet.apply_manifest": str(self.manifest),
                    "plugin.puppet.splay": "false"})
        out.update(extra)
        return out

    @property
    def summary_file(self) -> Path:
        return self.dirs["publicdir"] / "last_run_summary.yaml"

    @property
    def disabled_lock(self) -> Path:
        return self.dirs["vardir"] / "state" / "agent_disabled.lock"


@pytest.fixture(scope="module")
def applied_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A site on which the real ``puppet apply`` ran once (its state files are real)."""
    require_program("puppet")
    site = Site(tmp_path_factory.mktemp("puppet-site"))
    proc = site.puppet("apply", "--color=false", str(site.manifest))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert site.summary_file.exists()
    return site


def rpc_json(collective: LocalCollective, *args: str) -> list[dict[str, Any]]:
    proc = collective.mco("rpc", "puppet", *args, "--json-format", "mcollective")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(proc.stdout + proc.stderr) from None


def test_last_run_summary_shows_the_real_run(local_collective: LocalCollective,
                                             applied_site: Site) -> None:
    local_collective.add_node("p1", settings=applied_site.settings())
    summary = yaml.safe_load(applied_site.summary_file.read_text())
    [reply] = rpc_json(local_collective, "last_run_summary", "logs=true")
    assert reply["statuscode"] == 0, reply
    data = reply["data"]
    assert data["total_resources"] == summary["resources"]["total"] > 0
    assert data["changed_resources"] == summary["resources"]["changed"]
    assert data["out_of_sync_resources"] == summary["resources"]["out_of_sync"]
    assert data["failed_resources"] == 0
    assert data["lastrun"] == int(summary["time"]["last_run"])
    assert data["config_version"] == str(summary["version"]["config"])
    assert data["summary"]["version"]["puppet"] == summary["version"]["puppet"]
    assert data["type_distribution"].get("File") == 1
    assert data["type_distribution"].get("Notify") == 1
    assert any("hello from puppet" in line["msg"] for line in data["logs"])
    text = local_collective.mco("rpc", "puppet", "last_run_summary")
    assert "Summary of Total Resources" in text.stdout or "Average" in text.stdout, \
        text.stdout
    summary_text = local_collective.mco("puppet", "summary")
    assert "Summary statistics for 1 nodes:" in summary_text.stdout, summary_text.stdout
    assert "Total resources:" in summary_text.stdout


def test_disable_then_runonce_is_refused(local_collective: LocalCollective,
                                         tmp_path: Path) -> None:
    require_program("puppet")
    site = Site(tmp_path / "site")
    local_collective.add_node("p1", settings=site.settings())
    local_collective.add_node("p2", settings=Site(tmp_path / "site2").settings())
    proc = local_collective.mco("puppet", "disable", "database", "migration", "-I", "p1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Puppet's own lock file, in Puppet's format...
    assert json.loads(site.disabled_lock.read_text()) == {
        "disabled_message": "database migration"}
    refused = rpc_json(local_collective, "runonce", "force=true", "-I", "p1")[0]
    assert refused["statuscode"] == 1
    assert refused["statusmsg"] == "Puppet is disabled: 'database migration'"
    assert not site.target.exists()
    text = local_collective.mco("puppet", "runonce", "--force", "-I", "p1")
    assert "Puppet is disabled: 'database migration'" in text.stdout
    status = local_collective.mco("puppet", "status")
    assert "Currently disabled" in status.stdout, status.stdout
    count = local_collective.mco("puppet", "count")
    assert "Total Puppet nodes: 2" in count.stdout, count.stdout
    assert "Nodes currently enabled: 1" in count.stdout
    assert "Nodes currently disabled: 1" in count.stdout
    again = rpc_json(local_collective, "disable", "-I", "p1")[0]
    assert again["statuscode"] == 1 and "Already disabled" in again["statusmsg"]
    # ...which the real Puppet honours and removes.
    enabled = site.puppet("agent", "--enable")
    assert enabled.returncode == 0, enabled.stderr
    assert not site.disabled_lock.exists()
    assert rpc_json(local_collective, "status", "-I", "p1")[0]["data"]["enabled"] is True
    # And a lock the real Puppet writes is seen, message included.
    disabled = site.puppet("agent", "--disable", "puppet says no")
    assert disabled.returncode == 0, disabled.stderr
    data = rpc_json(local_collective, "status", "-I", "p1")[0]["data"]
    assert data["enabled"] is False and data["disable_message"] == "puppet says no"
    proc = local_collective.mco("puppet", "enable", "-I", "p1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not site.disabled_lock.exists()


def test_runonce_runs_puppet_and_refuses_while_applying(local_collective: LocalCollective,
                                                        tmp_path: Path) -> None:
    require_program("puppet")
    site = Site(tmp_path / "site")
    local_collective.add_node("p1", settings=site.settings())
    first = rpc_json(local_collective, "runonce", "force=true", "noop=false")[0]
    assert first["statuscode"] == 0, first
    assert "Started a background Puppet run using the 'puppet apply" in \
        first["data"]["summary"]
    assert first["data"]["initiated_at"] > 0
    # The run lasts seconds (Ruby start-up alone): a second one is refused meanwhile.
    second = rpc_json(local_collective, "runonce", "force=true")[0]
    if second["statuscode"] != 0:
        assert second["statusmsg"] == \
            "Puppet is currently applying a catalog, cannot run now"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not site.summary_file.exists():
        time.sleep(1)
    while time.monotonic() < deadline and rpc_json(
            local_collective, "status")[0]["data"]["applying"]:
        time.sleep(1)
    assert site.target.read_text() == "managed by puppet\n"
    data = rpc_json(local_collective, "last_run_summary")[0]["data"]
    assert data["total_resources"] > 0 and data["changed_resources"] >= 1
    status = local_collective.mco("puppet", "status")
    assert "Currently stopped; last completed run" in status.stdout, status.stdout


def test_resource_and_type_lists(local_collective: LocalCollective,
                                 applied_site: Site) -> None:
    local_collective.add_node("p1", settings=applied_site.settings(**{
        "plugin.puppet.resource_type_whitelist": "user,file"}))
    local_collective.add_node("p2", settings=applied_site.settings())
    proc = local_collective.mco("puppet", "resource", "user", "root", "--json-format",
                                "mcollective")
    replies = {r["sender"]: r for r in json.loads(proc.stdout)}
    assert replies["p1"]["statuscode"] == 0, replies["p1"]
    assert "user { 'root':" in replies["p1"]["data"]["result"]
    assert replies["p1"]["data"]["changed"] is False
    assert replies["p2"]["statusmsg"] == "The user type is not listed in the type whitelist"
    managed = rpc_json(local_collective, "resource", "type=file",
                       f"name={applied_site.target}", "-I", "p1")[0]
    assert managed["statuscode"] == 1
    assert "Puppet is managing the resource" in managed["statusmsg"]


def test_runall_rolls_through_nodes(local_collective: LocalCollective,
                                    tmp_path: Path) -> None:
    require_program("puppet")
    sites = {name: Site(tmp_path / name) for name in ("r1", "r2")}
    for name, site in sites.items():
        local_collective.add_node(name, settings=site.settings())
    proc = local_collective.mco("puppet", "runall", "1", "--poll-interval", "1", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Running all nodes with a concurrency of 1" in proc.stdout
    for name, site in sites.items():
        assert f"{name} schedule status: Started a background Puppet run" in proc.stdout
        assert f"{name} has finished its Puppet run" in proc.stdout
        assert site.target.exists()


def test_mco_puppet_usage_errors_and_json(local_collective: LocalCollective,
                                          applied_site: Site) -> None:
    local_collective.add_node("p1", settings=applied_site.settings())
    missing = local_collective.mco("puppet")
    assert missing.returncode == 1
    assert "mco puppet: Please specify a command." in missing.stderr
    wrong = local_collective.mco("puppet", "explode")
    assert wrong.returncode == 1 and "Action must be count, enable" in wrong.stderr
    clash = local_collective.mco("puppet", "runonce", "--force", "--splay")
    assert clash.returncode == 1 and "Cannot set splay when forcing runs" in clash.stderr
    runall = local_collective.mco("puppet", "runall")
    assert "The runall command needs a concurrency limit" in runall.stderr
    bad_tag = local_collective.mco("puppet", "runonce", "--tag=-x")
    assert bad_tag.returncode == 1 and "'-x' is not a valid Puppet tag" in bad_tag.stderr
    count = json.loads(local_collective.mco("puppet", "count", "-j").stdout)
    assert count["total"] == 1 and count["enabled"] == 1 and count["disabled"] == 0
    status = json.loads(local_collective.mco("puppet", "status", "-j").stdout)["replies"]
    assert status[0]["sender"] == "p1" and status[0]["data"]["enabled"] is True


def test_runonce_in_batches(local_collective: LocalCollective, tmp_path: Path) -> None:
    """``--batch 1``: core's batching sends the run to one node at a time."""
    require_program("puppet")
    sites = {name: Site(tmp_path / name) for name in ("b1", "b2")}
    for name, site in sites.items():
        local_collective.add_node(name, settings=site.settings())
    proc = local_collective.mco("puppet", "runonce", "--batch", "1", "--batch-sleep",
                                "0.5", "--force", "--json-format", "mcollective")
    replies = json.loads(proc.stdout)
    assert sorted(r["sender"] for r in replies) == ["b1", "b2"]
    assert all(r["statuscode"] == 0 for r in replies), replies
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not all(s.target.exists()
                                                  for s in sites.values()):
        time.sleep(1)
    assert all(s.target.exists() for s in sites.values())


def test_runonce_options_reach_puppet(local_collective: LocalCollective,
                                      tmp_path: Path) -> None:
    """noop, tags and environment are passed to the real run: a noop run changes
    nothing and reports what it would have changed; a tag that no resource has
    applies nothing."""
    require_program("puppet")
    site = Site(tmp_path / "site")
    local_collective.add_node("p1", settings=site.settings())

    def run(*inputs: str) -> dict[str, Any]:
        before = site.summary_file.stat().st_mtime if site.summary_file.exists() else 0
        reply = rpc_json(local_collective, "runonce", "force=true", *inputs)[0]
        assert reply["statuscode"] == 0, reply
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if site.summary_file.exists() and site.summary_file.stat().st_mtime > before \
                    and not rpc_json(local_collective, "status")[0]["data"]["applying"]:
                break
            time.sleep(1)
        return rpc_json(local_collective, "last_run_summary")[0]["data"]

    noop = run("noop=true", "environment=production")
    assert not site.target.exists()
    assert noop["changed_resources"] == 0 and noop["out_of_sync_resources"] >= 1
    assert noop["summary"]["application"]["converged_environment"] == "production"
    tagged = run("tags=nothing_has_this_tag")
    assert not site.target.exists()
    assert tagged["changed_resources"] == 0
