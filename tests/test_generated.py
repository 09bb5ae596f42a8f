"""Manual pages and shell completion: the shipped files are what the code generates,
``man`` renders them, and completing ``mco`` in a real bash offers applications,
options, agents, actions and inputs from what is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "release"))
from generated import expected_files  # noqa: E402

BIN = Path(sys.executable).parent
COMPLETION = ROOT / "core" / "share" / "bash-completion" / "completions" / "mco"


def test_generated_files_are_up_to_date() -> None:
    stale = [str(path.relative_to(ROOT)) for path, text in expected_files().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert not stale, ("out of date (run `python3 dev.py generate` and commit): "
                       + ", ".join(stale))


@pytest.mark.parametrize("page", ["mco", "mco-rpc", "mcollectived", "mco-security"])
def test_man_renders_the_pages(page: str) -> None:
    if shutil.which("man") is None:
        pytest.fail("man is not installed (.ci/apt-packages lists man-db)")
    manpath = ":".join(str(p) for p in ROOT.glob("**/share/man") if ".tox" not in p.parts
                       and ".venv" not in str(p))
    proc = subprocess.run(["man", "-P", "cat", page], capture_output=True, text=True,
                          env={**os.environ, "MANPATH": manpath, "MANWIDTH": "80"},
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "SYNOPSIS" in proc.stdout and "OPTIONS" in proc.stdout


def complete(line: str, tmp_path: Path) -> list[str]:
    """What bash offers after ``line`` (the cursor at its end), through the shipped
    completion script and the real mco, as pressing TAB would."""
    script = f"""
source {COMPLETION}
COMP_LINE={line!r}
COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMPREPLY=()
_python_argcomplete mco "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}",
           "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [w.strip() for w in proc.stdout.splitlines() if w.strip()]


def test_bash_completes_applications_including_plugins(tmp_path: Path) -> None:
    offered = complete("mco ", tmp_path)
    assert {"ping", "rpc", "find", "facts", "inventory", "plugin"} <= set(offered)
    assert "security" in offered  # an application of mcollective-security-jwt
    assert complete("mco pi", tmp_path) == ["ping"]


def test_bash_completes_options(tmp_path: Path) -> None:
    assert complete("mco ping --connection-t", tmp_path) == ["--connection-timeout"]
    assert "--with-fact" in complete("mco rpc --with-", tmp_path)


def test_bash_completes_agents_actions_and_inputs(tmp_path: Path) -> None:
    assert {"rpcutil", "shell"} <= set(complete("mco rpc ", tmp_path))
    actions = complete("mco rpc rpcutil ", tmp_path)
    assert {"get_fact", "ping", "inventory", "daemon_stats"} <= set(actions)
    assert complete("mco rpc rpcutil get_fact ", tmp_path) == ["fact="]
    assert set(complete("mco rpc shell run ", tmp_path)) == {"command=", "timeout=", "user="}
    # inputs already given are not offered again
    assert "command=" not in complete("mco rpc shell run command=ls ", tmp_path)


def test_zsh_completion_script_is_shipped() -> None:
    text = (ROOT / "core" / "share" / "zsh" / "site-functions" / "_mco").read_text()
    assert text.startswith("#compdef mco")
    if shutil.which("zsh"):
        proc = subprocess.run(["zsh", "-n", str(ROOT / "core" / "share" / "zsh" /
                                                "site-functions" / "_mco")],
                              capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 0, proc.stderr


def test_not_completing_costs_nothing() -> None:
    """Without _ARGCOMPLETE, mco imports nothing of argcomplete (start-up speed)."""
    # main.leave replaced: as the console script, main() ends the process itself.
    code = ("import sys; from mcollective.cli import main; "
            "main.leave = lambda code: None; "
            "sys.argv = ['mco', '--version']; main.main(); "
            "print('argcomplete' in sys.modules, 'mcollective.cli.completion' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.stdout.split()[-2:] == ["False", "False"], proc.stdout + proc.stderr
