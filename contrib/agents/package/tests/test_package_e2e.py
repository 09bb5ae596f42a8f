"""The package agent through real daemons and the real ``mco``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mcollective.testing import LocalCollective

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None,
                                reason="these tests use this node's dpkg")


def test_status_on_three_nodes(local_collective: LocalCollective) -> None:
    for identity in ("n1", "n2", "n3"):
        local_collective.add_node(identity)
    proc = local_collective.mco("rpc", "package", "status", "package=bash")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    for label in ("Ensure:", "Version:", "Release:", "Arch:", "Provider: apt", "Name: bash"):
        assert sum(line.startswith(label) for line in lines) == 3, label
    ensure = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "bash"],
                            capture_output=True, text=True, check=True).stdout
    # The DDL's summary aggregates over ensure and arch.
    assert "Summary of Ensure:" in proc.stdout
    assert f"{ensure} = 3" in lines
    assert "Finished processing 3 / 3 hosts" in proc.stdout
    replies = json.loads(local_collective.mco("rpc", "package", "count",
                                              "--json-format", "mcollective").stdout)
    assert len({r["data"]["output"] for r in replies}) == 1
    assert all(isinstance(r["data"]["output"], int) for r in replies)


def test_bad_input(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    proc = local_collective.mco("rpc", "package", "install", "package=bash;reboot")
    assert proc.returncode != 0
    assert "'package'" in proc.stderr
    mode = local_collective.mco("rpc", "package", "yum_clean", "mode=everything")
    assert mode.returncode != 0
    assert "'mode'" in mode.stderr


def test_install_and_purge_a_local_deb_on_one_node(local_collective: LocalCollective,
                                                   throwaway_deb: Path) -> None:
    for identity in ("n1", "n2"):
        local_collective.add_node(identity)
    out = local_collective.mco("rpc", "package", "install", f"package={throwaway_deb}",
                               "-I", "n1", "--json-format", "mcollective")
    [reply] = json.loads(out.stdout)
    assert reply["statuscode"] == 0, reply["statusmsg"]
    assert reply["data"]["ensure"] == "1:1.0-2"
    status = json.loads(local_collective.mco("rpc", "package", "status",
                                             "package=mco-agent-selftest",
                                             "--json-format", "mcollective").stdout)
    assert sorted(r["data"]["ensure"] for r in status) == ["1:1.0-2", "1:1.0-2"]
    purge = json.loads(local_collective.mco("rpc", "package", "purge",
                                            "package=mco-agent-selftest", "-I", "n1",
                                            "--json-format", "mcollective").stdout)
    assert purge[0]["data"]["ensure"] == "purged"
    left = subprocess.run(["dpkg-query", "-W", "mco-agent-selftest"], capture_output=True,
                          check=False)
    assert left.returncode != 0
