"""The built artefacts, tried as the people who install them would.

Every sdist and wheel is built (``artefacts.build``: the wheel from the sdist) into
``$MCO_ARTEFACTS`` (the tox environment ``dist`` sets ``.tox/dist``, where the
per-distribution environments then find them), checked with ``twine check --strict``,
then installed, never editable, into fresh virtual environments: the server role, as an
operator would (``pip install 'mcollective-core[server]'``), and core alone. The node
is started and asked with the real ``mco``; the manual pages, completion, example
configurations and systemd unit are used from where the wheel put them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from artefacts import Distribution, build, distributions

DISTS = distributions()
CORE = next(d for d in DISTS if d.name == "mcollective-core")


@pytest.fixture(scope="session")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("MCO_ARTEFACTS")
    return Path(where) if where else tmp_path_factory.mktemp("artefacts")


@pytest.fixture(scope="session")
def built(out: Path) -> dict[str, tuple[Path, Path]]:
    return build(out)


def _uv() -> str:
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else str(shutil.which("uv"))


def make_venv(out: Path, name: str, *requirements: str) -> Path:
    """A fresh virtual environment with ``requirements`` installed from the built
    wheels (constraints pin every mcollective-* distribution to its wheel)."""
    venv = out / "venvs" / name
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True)
    subprocess.run([_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                    "--constraint", str(out / "constraints.txt"), *requirements], check=True)
    return venv


@pytest.fixture(scope="session")
def server(out: Path, built: dict[str, tuple[Path, Path]]) -> Path:
    return make_venv(out, "server", "mcollective-core[server]")


@pytest.fixture(scope="session")
def core_only(out: Path, built: dict[str, tuple[Path, Path]]) -> Path:
    return make_venv(out, "core", "mcollective-core")


def env_for(venv: Path, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MCOLLECTIVE_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PATH=f"{venv / 'bin'}:{os.environ['PATH']}", XDG_STATE_HOME=str(state),
               MANPATH=str(venv / "share" / "man"))
    return env


def run(venv: Path, state: Path, *cmd: str, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / cmd[0]), *cmd[1:]], capture_output=True,
                          text=True, env=env_for(venv, state), timeout=timeout, check=False)


# --- the artefacts themselves ----------------------------------------------------------

def test_every_distribution_is_built(built: dict[str, tuple[Path, Path]]) -> None:
    assert sorted(built) == sorted(d.name for d in DISTS)


def test_twine_check_strict(built: dict[str, tuple[Path, Path]]) -> None:
    files = [str(p) for pair in built.values() for p in pair]
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == len(files)


@pytest.mark.parametrize("dist", DISTS, ids=lambda d: d.name)
def test_sdist_carries_tests_and_documents(dist: Distribution,
                                           built: dict[str, tuple[Path, Path]]) -> None:
    sdist, _ = built[dist.name]
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"):
        assert needed in names, f"{sdist.name} lacks {needed}"
    assert any(n.startswith("tests/test_") for n in names), f"{sdist.name} has no tests"


@pytest.mark.parametrize("dist", DISTS, ids=lambda d: d.name)
def test_wheel_metadata(dist: Distribution, built: dict[str, tuple[Path, Path]]) -> None:
    _, wheel = built[dist.name]
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        info = f"{dist.normalized}-{dist.version}.dist-info"
        metadata = whl.read(f"{info}/METADATA").decode()
    assert f"{info}/licenses/LICENSE" in names
    assert any(n.endswith("/py.typed") for n in names)
    assert "License-Expression: Apache-2.0" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: Documentation, https://" in metadata
    assert "Description-Content-Type: text/markdown" in metadata


def test_core_wheel_installs_manuals_completion_unit_and_examples(
        built: dict[str, tuple[Path, Path]]) -> None:
    _, wheel = built["mcollective-core"]
    data = f"mcollective_core-{CORE.version}.data/data/share/"
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
    for rel in ("man/man1/mco.1", "man/man1/mco-rpc.1", "man/man1/mcollectived.1",
                "bash-completion/completions/mco", "zsh/site-functions/_mco",
                "mcollective/mcollectived.service", "mcollective/server.cfg",
                "mcollective/client.cfg"):
        assert data + rel in names, rel
    assert "mcollective/testing/choria_ddl/schema/agent.json" in names
    assert "mcollective/schemas/request.json" in names


# --- the server role, installed --------------------------------------------------------

@pytest.fixture
def node(server: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``mcollectived`` of the server role with the shipped example server.cfg (every
    line commented out: the built-in defaults, the embedded broker) in the foreground;
    stopped with SIGTERM afterwards."""
    state = tmp_path / "state"
    config = server / "share" / "mcollective" / "server.cfg"
    pidfile = tmp_path / "mcollectived.pid"
    proc = subprocess.Popen([str(server / "bin" / "mcollectived"), "-c", str(config),
                             "--pidfile", str(pidfile)], env=env_for(server, state),
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "log", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert proc.poll() is None, (tmp_path / "log").read_text()
        assert time.monotonic() < deadline, "mcollectived did not become ready"
        time.sleep(0.05)
    try:
        yield server, state
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_server_role_answers_mco_ping_and_rpc(node: tuple[Path, Path]) -> None:
    venv, state = node
    ping = run(venv, state, "mco", "ping")
    assert ping.returncode == 0, ping.stderr
    assert "1 replies" in ping.stdout
    fact = run(venv, state, "mco", "rpc", "rpcutil", "get_fact", "fact=kernel")
    assert fact.returncode == 0, fact.stderr
    assert "Linux" in fact.stdout
    shell = run(venv, state, "mco", "rpc", "shell", "run", "command=echo artefact-ok", "-j")
    assert shell.returncode == 0, shell.stderr
    assert "artefact-ok" in shell.stdout
    agents = run(venv, state, "mco", "rpc", "rpcutil", "inventory", "-j")
    for agent in ("package", "service", "shell", "filemgr", "process", "nettest"):
        assert f'"{agent}"' in agents.stdout


def test_installed_manual_pages_render(server: Path, tmp_path: Path) -> None:
    if shutil.which("man") is None:
        pytest.fail("man is not installed (.ci/apt-packages lists man-db)")
    for page in ("mco", "mco-ping", "mcollectived"):
        proc = subprocess.run(["man", "-P", "cat", page], capture_output=True, text=True,
                              env={**env_for(server, tmp_path), "MANWIDTH": "80"},
                              timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "SYNOPSIS" in proc.stdout


def test_installed_bash_completion(server: Path, tmp_path: Path) -> None:
    script = server / "share" / "bash-completion" / "completions" / "mco"
    line = "mco rpc rpcutil get_fact "
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", f"""
source {script}
COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=(mco rpc rpcutil get_fact ""); COMP_CWORD=4; COMPREPLY=()
_python_argcomplete mco "" get_fact
printf '%s\\n' "${{COMPREPLY[@]}}"
"""], capture_output=True, text=True, env=env_for(server, tmp_path), timeout=60, check=False)
    assert proc.stdout.split() == ["fact="], proc.stdout + proc.stderr


def test_systemd_accepts_the_installed_unit(server: Path, tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit as installed, with ExecStart pointing
    into this virtual environment (what its documentation says to do for one); the
    Documentation= manual page is found where the wheel installed it."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is not installed")
    text = (server / "share" / "mcollective" / "mcollectived.service").read_text()
    assert "\nExecStart=mcollectived\n" in text
    unit = tmp_path / "mcollectived.service"
    unit.write_text(text.replace("\nExecStart=mcollectived\n",
                                 f"\nExecStart={server / 'bin' / 'mcollectived'}\n"))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, env=env_for(server, tmp_path), timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_daemonize_with_a_broken_configuration_exits_non_zero(server: Path,
                                                              tmp_path: Path) -> None:
    for text in ("identty = typo\n", "connector = kombuu\n"):
        config = tmp_path / "server.cfg"
        config.write_text(text)
        proc = run(server, tmp_path / "state", "mcollectived", "-c", str(config),
                   "--daemonize")
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("mcollectived: ") and proc.stderr.count("\n") == 1


def test_redis_without_its_extra_names_the_extra(server: Path, tmp_path: Path) -> None:
    config = tmp_path / "server.cfg"
    config.write_text("plugin.kombu.url = redis://127.0.0.1:6379/0\n")
    proc = run(server, tmp_path / "state", "mcollectived", "-c", str(config))
    assert proc.returncode == 1
    # One log line (after the "generated a new key" warning of this fresh state).
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot start: " in last and "plugin.kombu.url" in last
    assert "pip install 'mcollective-connector-kombu[redis]'" in last


def test_a_generated_agent_bounds_its_core_requirement(server: Path, tmp_path: Path) -> None:
    """``mco plugin generate agent`` (as installed) writes the same bound on
    mcollective-core as our own plugins carry."""
    import tomllib

    from packaging.requirements import Requirement
    from test_metadata import check_bounds

    proc = run(server, tmp_path / "state", "mco", "plugin", "generate", "agent", "bounded",
               "-d", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    project = tomllib.loads((tmp_path / "mcollective-agent-bounded" / "pyproject.toml")
                            .read_text())["project"]
    [core] = [Requirement(r) for r in project["dependencies"]
              if Requirement(r).name == "mcollective-core"]
    check_bounds("the generated agent", core)
    [testing] = [Requirement(r) for r in project["optional-dependencies"]["test"]
                 if Requirement(r).name == "mcollective-core"]
    check_bounds("the generated agent [test]", testing)


# --- core alone --------------------------------------------------------------------------

def test_core_alone_names_the_distribution_to_install(core_only: Path,
                                                      tmp_path: Path) -> None:
    daemon = run(core_only, tmp_path / "state", "mcollectived")
    assert daemon.returncode == 1
    assert "mcollective-security-psk" in daemon.stderr or \
        "mcollective-connector-kombu" in daemon.stderr, daemon.stderr
    assert "mcollective-core[server]" in daemon.stderr
    client = run(core_only, tmp_path / "state", "mco", "ping")
    assert client.returncode == 1
    assert "mcollective-core[client]" in client.stderr or \
        "'mcollective-core[client]'" in client.stderr, client.stderr
