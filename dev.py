#!/usr/bin/env python3
"""Bootstrap for a fresh checkout; needs nothing but Python 3.11+.

    python3 dev.py demo       install every distribution into .venv and run the demo
    python3 dev.py test       install tox into .venv-tox and run the whole suite
    python3 dev.py generate   rewrite the manual pages and completion scripts (in .venv)

``test`` runs every tox environment (one per distribution, plus integration and lint) two
at a time, then prints one closing line with the totals from every environment's JUnit
report. It fails when any environment fails or when an environment ran no test at all.
Extra arguments after ``test`` go to tox (``python3 dev.py test -e core``); the
per-distribution environments test the built wheels and sdists, so ``dist`` (which
builds them) is added to any ``-e`` list that names one of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older python3
    sys.exit(f"mcollective needs Python 3.11 or newer; this is {sys.version.split()[0]}")


def distributions() -> list[Path]:
    """Every installable distribution: core first, then each contrib plugin."""
    found = [ROOT / "core"]
    found += sorted(p.parent for p in (ROOT / "contrib").glob("*/*/pyproject.toml"))
    return found


def run(cmd: list[str], **kwargs: object) -> None:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def ensure_venv(path: Path, packages: list[str]) -> Path:
    python = path / "bin" / "python"
    marker = path / ".mco-bootstrapped"
    wanted = "\n".join(packages)
    if not python.exists():
        print(f"creating {path.name} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    if not marker.exists() or marker.read_text() != wanted:
        run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "uv"])
        # Compiled bytecode, as pip writes it: without it every daemon and mco process
        # compiles its imports from source at start-up (slower, and several MB more RSS).
        run([str(path / "bin" / "uv"), "pip", "install", "--quiet", "--compile-bytecode",
             "--python", str(python), *packages])
        marker.write_text(wanted)
    return python


def editable_all() -> list[str]:
    out = []
    for dist in distributions():
        spec = f"{dist}[testing]" if dist.name == "core" else str(dist)
        out += ["-e", spec]
    return out


def demo(_args: list[str]) -> int:
    python = ensure_venv(ROOT / ".venv", editable_all())
    return subprocess.call([str(python), "-m", "mcollective.demo"])


def with_dist(args: list[str]) -> list[str]:
    """``-e core`` -> ``-e dist,core``: the per-distribution environments install what
    ``dist`` builds (the lint, docs and integration environments do not need it)."""
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg in ("-e", "--env"):
            envs = out[i + 1].split(",")
            if "dist" not in envs and not set(envs) <= {"lint", "docs", "integration"}:
                out[i + 1] = ",".join(["dist", *envs])
    return out


def test(args: list[str]) -> int:
    args = with_dist(args)
    python = ensure_venv(ROOT / ".venv-tox", ["tox>=4.20", "tox-uv>=1.11"])
    junit = ROOT / ".tox" / "junit"
    if junit.exists():
        for old in junit.glob("*.xml"):
            old.unlink()
    env = dict(os.environ)
    cmd = [str(python), "-m", "tox", "run-parallel", "--parallel", "2",
           "--parallel-no-spinner", "--parallel-live", *args]
    print("+ " + " ".join(cmd), flush=True)
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    return summarize(junit, code)


def summarize(junit: Path, code: int) -> int:
    """One closing line for the whole run, from every environment's JUnit report."""
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    empty = []
    for report in sorted(junit.glob("*.xml")):
        ran = 0
        for suite in ET.parse(report).getroot().iter("testsuite"):
            tests = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            totals["failed"] += failed
            totals["skipped"] += skipped
            totals["passed"] += tests - failed - skipped
            ran += tests
        if ran == 0:
            empty.append(report.stem)
    print()
    for name in empty:
        print(f"environment {name} ran no test", flush=True)
    if not list(junit.glob("*.xml")):
        print("no test report was written", flush=True)
        code = code or 1
    print(f"{totals['passed']} passed, {totals['failed']} failed, "
          f"{totals['skipped']} skipped", flush=True)
    if empty or totals["failed"]:
        return code or 1
    return code


def generate(_args: list[str]) -> int:
    """Manual pages and completion scripts from the code (release/generated.py)."""
    python = ensure_venv(ROOT / ".venv", editable_all())
    run([str(ROOT / ".venv" / "bin" / "uv"), "pip", "install", "--quiet", "--python",
         str(python), "-r", str(ROOT / "release" / "generators.txt")])
    return subprocess.call([str(python), str(ROOT / "release" / "generated.py")])


def main(argv: list[str]) -> int:
    commands = {"demo": demo, "test": test, "generate": generate}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
