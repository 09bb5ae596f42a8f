"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a
missing anchor or a page that fails to render stops it), with a page per distribution
and the API reference, and every address the READMEs and package metadata give for the
site leads to a page of it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE_URL = "https://mcollective-py.readthedocs.io/en/latest/"
DISTRIBUTIONS = [ROOT / "core",
                 *sorted(p.parent for p in ROOT.glob("contrib/*/*/pyproject.toml"))]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr.replace("MkDocs may break", ""), proc.stderr
    return out


def name_of(directory: Path) -> str:
    return str(tomllib.loads((directory / "pyproject.toml").read_text())["project"]["name"])


def test_every_distribution_has_a_page(site: Path) -> None:
    listing = (site / "plugins" / "index.html").read_text()
    for directory in DISTRIBUTIONS:
        name = name_of(directory)
        assert (site / "plugins" / name / "index.html").is_file(), name
        assert f'href="{name}/"' in listing, name


@pytest.mark.parametrize(("page", "names"), [
    ("agent", ["Agent", "AgentRequest", "AgentReply", "action"]),
    ("connector", ["Connector"]),
    ("security", ["SecurityProvider"]),
    ("facts", ["FactsSource"]),
    ("testing", ["LocalCollective", "ConnectorContract", "SecurityContract"]),
])
def test_api_reference_documents_the_public_classes(site: Path, page: str,
                                                    names: list[str]) -> None:
    html = (site / "api" / page / "index.html").read_text()
    for name in names:
        assert re.search(rf'id="mcollective\.[\w.]*\b{name}"', html), name


def _site_links() -> list[tuple[str, str]]:
    found = []
    for directory in DISTRIBUTIONS:
        readme = (directory / "README.md").read_text()
        found += [(f"{directory.name}/README.md", m) for m in
                  re.findall(re.escape(SITE_URL) + r"[^)\s>]*", readme)]
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        found += [(f"{directory.name}/pyproject.toml", u) for u in project["urls"].values()
                  if u.startswith(SITE_URL)]
    found += [("README.md", m) for m in re.findall(re.escape(SITE_URL) + r"[^)\s>]*",
                                                   (ROOT / "README.md").read_text())]
    return found


def test_every_link_to_the_site_leads_to_a_page(site: Path) -> None:
    links = _site_links()
    assert len(links) > 20
    missing = []
    for where, url in links:
        path = url.removeprefix(SITE_URL).split("#")[0].strip("/")
        if not (site / path / "index.html").is_file():
            missing.append(f"{where}: {url}")
    assert not missing, missing
