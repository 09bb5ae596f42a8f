"""Fixtures for the package agent tests: the agent built the way the daemon builds it,
and a ``call`` helper that validates the request against the DDL first, as the daemon
does before an action runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcollective.agent import AgentReply
from mcollective.testing.agents import build_agent, run_action
from mcollective_agent_package import Package


@pytest.fixture
def make_agent(tmp_path: Path) -> Callable[..., Package]:
    def make(settings: str = "") -> Package:
        return build_agent(Package, tmp_path / "state", settings)

    return make


@pytest.fixture
def call() -> Callable[..., AgentReply]:
    """``call(agent, action, **inputs)``: validate like the daemon, then run."""
    return run_action


APT = shutil.which("apt-get") is not None and shutil.which("dpkg-deb") is not None
THROWAWAY = "mco-agent-selftest"


def _build_deb(directory: Path, version: str) -> Path:
    """A package with one file and one configuration file, depending on nothing."""
    root = directory / f"root-{version.replace(':', '_')}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {THROWAWAY}\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: mcollective tests <tests@example.invalid>\n"
        f"Description: throwaway package for the mcollective package agent tests\n")
    (root / "DEBIAN" / "conffiles").write_text(f"/etc/{THROWAWAY}.conf\n")
    (root / "etc").mkdir()
    (root / "etc" / f"{THROWAWAY}.conf").write_text("setting = 1\n")
    deb = directory / f"{THROWAWAY}_{version.replace(':', '_')}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


def _purge_throwaway() -> None:
    subprocess.run(["dpkg", "--purge", THROWAWAY], capture_output=True, check=False)


@pytest.fixture
def throwaway_deb() -> Iterator[Path]:
    """A tiny .deb built for the test (in a short path: the DDL allows 90 characters),
    purged again afterwards whatever happened, so the machine is left as it was."""
    if not APT or os.geteuid() != 0:
        pytest.skip("needs dpkg/apt and root")
    state = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", THROWAWAY],
                           capture_output=True, text=True, check=False).stdout.strip()
    if state not in ("", "not-installed"):
        pytest.skip(f"{THROWAWAY} is already on this machine ({state}); not touching it")
    directory = Path(tempfile.mkdtemp(prefix="mcopkg"))
    try:
        yield _build_deb(directory, "1:1.0-2")
    finally:
        _purge_throwaway()
        shutil.rmtree(directory, ignore_errors=True)
