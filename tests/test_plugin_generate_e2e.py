"""A scaffolded agent installs and answers without edits: ``mco plugin generate agent``,
``uv pip install -e`` into this interpreter's environment, a real daemon, the real
``mco rpc``; then the scaffold's own test suite passes too. Uninstalled at teardown."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import ok

from mcollective.testing import LocalCollective

pytestmark = pytest.mark.slow


def _uv() -> list[str]:
    local = Path(sys.executable).parent / "uv"
    if local.exists():
        return [str(local), "pip"]
    found = shutil.which("uv")
    if found:
        return [found, "pip"]
    return [sys.executable, "-m", "pip"]


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = _uv()
    if cmd[-1] == "pip" and "uv" in Path(cmd[0]).name:
        cmd += [args[0], "-p", sys.executable, *args[1:]]
    else:
        cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Generate and install a uniquely named agent; always uninstall it again, so other
    test runs sharing this environment never see it."""
    name = f"scaffold_{uuid.uuid4().hex[:8]}"
    where = tmp_path_factory.mktemp("scaffold")
    collective = LocalCollective(where / "collective")
    ok(collective.mco("plugin", "generate", "agent", name, "--actions", "status,restart",
                      "-d", str(where), "--description", "Made by the e2e test"))
    root = where / f"mcollective-agent-{name}"
    installed = pip("install", "--no-deps", "-e", str(root))
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield name, root
    finally:
        pip("uninstall", f"mcollective-agent-{name.replace('_', '-')}")


def test_generated_agent_answers_mco_rpc(scaffold: tuple[str, Path], tmp_path: Path) -> None:
    name, _ = scaffold
    with LocalCollective(tmp_path / "collective") as collective:
        collective.add_node("node1.example.net")
        collective.add_node("node2.example.net")
        proc = ok(collective.mco("rpc", name, "status", "message=hello-there"))
        assert proc.stdout.count("Message: hello-there") == 2
        assert "Finished processing 2 / 2 hosts" in proc.stdout
        doc = json.loads(ok(collective.mco("rpc", name, "restart",
                                           "--json-format", "mcollective")).stdout)
        assert {r["data"]["message"] for r in doc} == {"hello"}  # the DDL default
        help_text = ok(collective.mco("plugin", "doc", name)).stdout
        assert "Made by the e2e test" in help_text and "restart action" in help_text


def test_the_scaffold_s_own_tests_pass(scaffold: tuple[str, Path]) -> None:
    _, root = scaffold
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(root / "tests")], cwd=root, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


@pytest.mark.parametrize("ddl", ["python", "json"])
def test_a_generated_agent_passes_mypy_strict(ddl: str, tmp_path: Path) -> None:
    """Core ships py.typed, so a plugin author's type checker sees real types: the
    generated agent (its code and its test) passes ``mypy --strict`` as generated."""
    collective = LocalCollective(tmp_path / "collective")
    ok(collective.mco("plugin", "generate", "agent", f"typed_{ddl}", "--ddl", ddl,
                      "--actions", "status,restart", "-d", str(tmp_path)))
    root = tmp_path / f"mcollective-agent-typed_{ddl}"
    # The generated pyproject.toml asks for strict mode and names the files.
    proc = subprocess.run([sys.executable, "-m", "mypy", "--python-executable", sys.executable,
                           "--no-incremental", "--cache-dir", str(tmp_path / "cache")],
                          cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found in 3 source files" in proc.stdout


def test_sighup_loads_an_agent_installed_since_the_start(tmp_path: Path) -> None:
    """``pip install -e`` of a scaffolded agent while the daemon runs, then
    ``kill -HUP``: the agent loads (the editable install's ``.pth`` file, the import
    and metadata caches and the entry points read again) and answers."""
    name = f"hupped_{uuid.uuid4().hex[:8]}"
    with LocalCollective(tmp_path / "collective") as collective:
        node = collective.add_node("node1.example.net")
        ok(collective.mco("plugin", "generate", "agent", name, "--actions", "status",
                          "-d", str(tmp_path)))
        installed = pip("install", "--no-deps", "-e",
                        str(tmp_path / f"mcollective-agent-{name}"))
        try:
            assert installed.returncode == 0, installed.stdout + installed.stderr
            node.signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while "reloaded:" not in node.log() and time.monotonic() < deadline:
                time.sleep(0.2)
            log = node.log()
            assert "agents=" in log.split("reloaded:")[-1] and name in \
                log.split("reloaded:")[-1], log
            assert "failed to load" not in log
            proc = ok(collective.mco("rpc", name, "status", "message=after-hup"))
            assert "Message: after-hup" in proc.stdout
            assert "Finished processing 1 / 1 hosts" in proc.stdout
        finally:
            pip("uninstall", f"mcollective-agent-{name.replace('_', '-')}")


@pytest.fixture(scope="module")
def data_scaffold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``mco plugin generate data``, installed like the agent scaffold (and removed)."""
    name = f"probe_{uuid.uuid4().hex[:8]}"
    where = tmp_path_factory.mktemp("data_scaffold")
    collective = LocalCollective(where / "collective")
    ok(collective.mco("plugin", "generate", "data", name, "-d", str(where),
                      "--description", "Made by the e2e test"))
    root = where / f"mcollective-data-{name}"
    installed = pip("install", "--no-deps", "-e", str(root))
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield name, root
    finally:
        pip("uninstall", f"mcollective-data-{name.replace('_', '-')}")


def test_generated_data_plugin_answers_filters(data_scaffold: tuple[str, Path],
                                               tmp_path: Path) -> None:
    name, _ = data_scaffold
    with LocalCollective(tmp_path / "collective") as collective:
        collective.add_node("node1.example.net")
        found = ok(collective.mco("find", "-S", f"{name}('hello').length=5"))
        assert found.stdout.split() == ["node1.example.net"]
        # The client checks the filter against the installed DDL before sending it.
        bad = collective.mco("find", "-S", f"{name}('hello').lenght=5")
        assert bad.returncode == 1 and "length" in bad.stderr
        info = ok(collective.mco("plugin", "info", f"data/{name}")).stdout
        assert "Made by the e2e test" in info and "Status:        loads" in info


def test_the_data_scaffold_s_own_tests_pass(data_scaffold: tuple[str, Path]) -> None:
    _, root = data_scaffold
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(root / "tests")], cwd=root, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_a_generated_data_plugin_passes_mypy_strict(tmp_path: Path) -> None:
    collective = LocalCollective(tmp_path / "collective")
    ok(collective.mco("plugin", "generate", "data", "typed_data", "-d", str(tmp_path)))
    root = tmp_path / "mcollective-data-typed_data"
    proc = subprocess.run([sys.executable, "-m", "mypy", "--python-executable", sys.executable,
                           "--no-incremental", "--cache-dir", str(tmp_path / "cache")],
                          cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found in 3 source files" in proc.stdout
