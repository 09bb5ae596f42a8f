"""``mco package`` through real daemons and the real ``mco``, on this machine's dpkg."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mcollective.testing import LocalCollective

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None,
                                reason="these tests use this node's dpkg")


def _dpkg(field: str, package: str) -> str:
    return subprocess.run(["dpkg-query", "-W", f"-f=${{{field}}}", package],
                          capture_output=True, text=True, check=True).stdout


def test_a_veteran_s_package_runbook(local_collective: LocalCollective) -> None:
    for identity in ("n1", "n2"):
        local_collective.add_node(identity)
    version, arch = _dpkg("Version", "bash"), _dpkg("Architecture", "bash")
    for words in (("status", "bash"), ("bash", "status")):
        proc = local_collective.mco("package", *words)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        assert f"   n1: bash-{version}.{arch}" in lines
        assert f"   n2: bash-{version}.{arch}" in lines
        # The summary: which versions were found on how many nodes.
        assert "Summary of Ensure:" in proc.stdout
        assert f"   {version} = 2" in lines
        assert "Finished processing 2 / 2 hosts" in proc.stdout
    absent = local_collective.mco("package", "status", "mco-no-such-package", "-I", "n1")
    assert absent.returncode == 0, absent.stdout + absent.stderr
    assert "   n1: purged" in absent.stdout.splitlines()  # as Puppet and Choria say
    count = local_collective.mco("package", "count")
    assert count.returncode == 0
    counted = _dpkg_count()
    assert f"   n1: {counted}" in count.stdout.splitlines()
    # -j: Choria's object, the summary of versions included.
    doc = json.loads(local_collective.mco("package", "status", "bash", "-j").stdout)
    assert (doc["agent"], doc["action"]) == ("package", "status")
    assert sorted((r["sender"], r["data"]["ensure"]) for r in doc["replies"]) == \
        [("n1", version), ("n2", version)]
    assert version in json.dumps(doc["summaries"])
    bare = json.loads(local_collective.mco("package", "status", "bash", "-j",
                                           "--json-format", "mcollective").stdout)
    assert sorted(r["sender"] for r in bare) == ["n1", "n2"]


def _dpkg_count() -> int:
    out = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.startswith("ii"))


def test_changing_every_node_asks_first(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    proc = local_collective.mco("package", "install", "bash")
    assert proc.returncode == 1
    assert "refusing to install packages on every node without a filter" in proc.stderr
    assert "-y" in proc.stderr


def test_usage_errors(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    for args, text in ((("frobnicate", "bash"), "the action must be one of install"),
                       (("status",), "needs one package name"),
                       (("count", "bash"), "takes no package name"),
                       (("bash", "count"), "takes no package name"),
                       (("status", "bash", "--version", "1"), "only applies to install")):
        proc = local_collective.mco("package", *args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr
    bad = local_collective.mco("package", "status", "bash;reboot")
    assert bad.returncode != 0 and "'package'" in bad.stderr


def test_install_and_purge_with_the_application(local_collective: LocalCollective,
                                                throwaway_deb: Path) -> None:
    local_collective.add_node("n1")
    out = local_collective.mco("package", "install", str(throwaway_deb), "-I", "n1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "   n1: mco-agent-selftest-1:1.0-2" in out.stdout
    purged = local_collective.mco("package", "mco-agent-selftest", "purge", "-I", "n1")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert "   n1: purged" in purged.stdout.splitlines()
