"""Build every distribution's sdist and wheel, as they would be published.

    python release/artefacts.py OUT

writes, for core and every ``contrib/*/*`` distribution found (nothing is listed by
hand, so a new distribution is built as soon as it exists):

* ``OUT/artefacts/``: each sdist, and the wheel built *from that sdist* (``uv build``),
  so a file missing from the sdist breaks the wheel or the tests here, not a user;
* ``OUT/src/<name>/``: each sdist unpacked, where the distribution's own tests run;
* ``OUT/constraints.txt``: ``<name> @ file://<wheel>`` for every distribution, which
  the per-distribution tox environments use (``UV_CONSTRAINT``) so that they install
  these wheels, never an editable tree or a same-named project from an index.

The tox environment ``dist`` runs this (through ``release/test_artefacts.py``) before the
per-distribution environments, which depend on it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Distribution:
    """One distribution of the repository, as its pyproject.toml declares it."""

    name: str
    path: Path
    version: str
    pyproject: dict  # type: ignore[type-arg]

    @property
    def normalized(self) -> str:
        """The name as wheel and sdist file names spell it."""
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def relpath(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def distribution_dirs() -> list[Path]:
    """Core first, then every contrib distribution (``contrib/<kind>/<name>/``)."""
    found = [ROOT / "core"]
    found += sorted(p.parent for p in (ROOT / "contrib").glob("*/*/pyproject.toml"))
    return found


def version_of(path: Path, pyproject: dict) -> str:  # type: ignore[type-arg]
    """The version from the one place it is written: the file that
    ``[tool.hatch.version] path`` names (or a static ``version``)."""
    static = pyproject["project"].get("version")
    if static:
        return str(static)
    source = path / pyproject["tool"]["hatch"]["version"]["path"]
    match = re.search(r'^__version__ = "([^"]+)"', source.read_text(encoding="utf-8"), re.M)
    if not match:
        raise RuntimeError(f"{source}: no __version__ = \"...\" line")
    return match.group(1)


def distributions() -> list[Distribution]:
    out = []
    for path in distribution_dirs():
        data = tomllib.loads((path / "pyproject.toml").read_text(encoding="utf-8"))
        out.append(Distribution(data["project"]["name"], path, version_of(path, data), data))
    return out


def _uv() -> str:
    local = Path(sys.executable).parent / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv is needed to build the distributions (pip install uv)")
    return found


def build(out: Path) -> dict[str, tuple[Path, Path]]:
    """Build every distribution into ``out``; returns name -> (sdist, wheel)."""
    artefacts = out / "artefacts"
    sources = out / "src"
    for old in (artefacts, sources):
        shutil.rmtree(old, ignore_errors=True)
    artefacts.mkdir(parents=True)
    sources.mkdir(parents=True)
    built: dict[str, tuple[Path, Path]] = {}
    uv = _uv()
    for dist in distributions():
        # sdist first, then the wheel from the unpacked sdist (uv build's default).
        subprocess.run([uv, "build", "--quiet", "--out-dir", str(artefacts), str(dist.path)],
                       check=True)
        stem = f"{dist.normalized}-{dist.version}"
        sdist = artefacts / f"{stem}.tar.gz"
        wheel = artefacts / f"{stem}-py3-none-any.whl"
        for path in (sdist, wheel):
            if not path.is_file():
                raise RuntimeError(f"building {dist.name} did not produce {path.name}")
        with tarfile.open(sdist) as tar:
            tar.extractall(sources, filter="data")
        (sources / stem).rename(sources / dist.name)
        built[dist.name] = (sdist, wheel)
    (out / "constraints.txt").write_text(
        "".join(f"{name} @ {wheel.as_uri()}\n" for name, (_, wheel) in sorted(built.items())),
        encoding="utf-8")
    return built


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    for name, (sdist, wheel) in build(Path(argv[0]).resolve()).items():
        print(f"{name}: {sdist.name} {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
