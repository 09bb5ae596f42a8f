"""What every distribution must declare to be publishable, read from the source tree.

Every check runs over core and each ``contrib/*/*`` distribution found, so a new
distribution is held to the same rules the day it appears.
"""

from __future__ import annotations

import re

import pytest
from artefacts import ROOT, Distribution, distributions
from packaging.requirements import Requirement
from packaging.version import Version

DISTS = distributions()
BY_NAME = {d.name: d for d in DISTS}
PYTHONS = ("3.11", "3.12", "3.13")


def ids(dist: Distribution) -> str:
    return dist.name


@pytest.fixture(params=DISTS, ids=ids)
def dist(request: pytest.FixtureRequest) -> Distribution:
    return request.param  # type: ignore[no-any-return]


def test_core_is_published_under_its_own_name() -> None:
    # 'mcollective' on the index is an unrelated project (2011): never ask for it.
    assert "mcollective-core" in BY_NAME
    assert "mcollective" not in BY_NAME


def test_license_file_is_the_apache_text(dist: Distribution) -> None:
    project = dist.pyproject["project"]
    assert project["license"] == "Apache-2.0"
    assert project.get("license-files") == ["LICENSE"]
    assert (dist.path / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert "Apache License\n                           Version 2.0" in (
        ROOT / "LICENSE").read_text()


def test_authors_urls_and_classifiers(dist: Distribution) -> None:
    project = dist.pyproject["project"]
    assert project["authors"], "authors"
    urls = project["urls"]
    for key in ("Homepage", "Documentation", "Source", "Issues", "Changelog"):
        assert urls.get(key, "").startswith("https://"), key
    assert urls["Changelog"].endswith(f"{dist.relpath}/CHANGELOG.md")
    classifiers = set(project["classifiers"])
    for version in PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert any(c.startswith("Topic :: ") for c in classifiers)
    assert project["requires-python"] == ">=3.11"


def test_packages_are_typed(dist: Distribution) -> None:
    packages = dist.pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for package in packages:
        assert (dist.path / package / "py.typed").is_file(), f"{package}/py.typed"


def test_one_version_from_one_place(dist: Distribution) -> None:
    project = dist.pyproject["project"]
    assert "version" not in project, "the version is read from __version__, not repeated"
    assert project["dynamic"] == ["version"]
    Version(dist.version)  # a valid version


def test_changelog_describes_the_current_version(dist: Distribution) -> None:
    text = (dist.path / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "Keep a Changelog" in text
    releases = re.findall(r"^## \[([^\]]+)\] - (\S+)", text, re.M)
    assert releases, "no '## [version] - date' section"
    top, date = releases[0]
    assert top == dist.version, f"CHANGELOG.md starts with {top}, the version is {dist.version}"
    assert date == "unreleased" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", date), date


def test_readme_is_a_landing_page(dist: Distribution) -> None:
    text = (dist.path / "README.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {dist.name}\n"), "the README opens with the distribution's name"
    # An index page has no repository around it: every link must be absolute.
    relative = [t for t in re.findall(r"\]\(([^)]+)\)", text)
                if not t.startswith(("https://", "http://", "#"))]
    assert not relative, f"relative links: {relative}"
    assert "https://mcollective-py.readthedocs.io/" in text, "no link to the documentation"
    assert "pip install" in text, "no install command"


def _internal_requirements(dist: Distribution) -> list[tuple[str, Requirement]]:
    project = dist.pyproject["project"]
    found = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        found += [(f"[{extra}]", Requirement(r)) for r in reqs]
    return [(where, r) for where, r in found if r.name in BY_NAME]


def _next_breaking(version: Version) -> Version:
    """Semantic versioning with 0.x: a minor version may break what plugins use."""
    if version.major == 0:
        return Version(f"0.{version.minor + 1}")
    return Version(f"{version.major + 1}.0")


def check_bounds(where: str, req: Requirement) -> None:
    target = BY_NAME[req.name]
    current = Version(target.version)
    assert req.specifier.contains(current, prereleases=True), (
        f"{where}: {req} excludes {req.name} {current}, the version in this tree")
    breaking = _next_breaking(current)
    assert not req.specifier.contains(breaking, prereleases=True), (
        f"{where}: {req} admits {req.name} {breaking}, which may break it; "
        f"bound it below {breaking}")
    assert not req.url, f"{where}: {req} points at a URL"


def test_requirements_on_our_distributions_are_bounded(dist: Distribution) -> None:
    checked = _internal_requirements(dist)
    if dist.name != "mcollective-core":
        assert any(r.name == "mcollective-core" for _, r in checked), \
            "every plugin requires mcollective-core"
    for where, req in checked:
        check_bounds(f"{dist.name} {where}", req)


def test_roles_install_the_default_plugins() -> None:
    extras = BY_NAME["mcollective-core"].pyproject["project"]["optional-dependencies"]
    server = {Requirement(r).name for r in extras["server"]}
    client = {Requirement(r).name for r in extras["client"]}
    assert {"mcollective-connector-kombu", "mcollective-security-psk",
            "mcollective-facts-system", "mcollective-facts-yaml"} <= server
    assert {n for n in BY_NAME if n.startswith("mcollective-agent-")} <= server
    assert {"mcollective-connector-kombu", "mcollective-security-psk"} <= client


def test_the_redis_transport_is_an_extra() -> None:
    kombu = BY_NAME["mcollective-connector-kombu"].pyproject["project"]
    deps = [Requirement(r) for r in kombu["dependencies"]]
    assert not any(r.name == "redis" or "redis" in r.extras for r in deps)
    assert not any(str(r.specifier).startswith("==") for r in deps), "no exact pins"
    assert any(Requirement(r).name == "redis"
               for r in kombu["optional-dependencies"]["redis"])


def test_every_distribution_has_a_tox_environment_on_its_artefacts(
        dist: Distribution) -> None:
    tox = (ROOT / "tox.ini").read_text(encoding="utf-8")
    pattern = re.compile(r"\{\[artefacts\]src\}/" + re.escape(dist.name) + r"/tests")
    assert pattern.search(tox), (
        f"tox.ini has no environment running {dist.name}'s tests from its sdist "
        "({[artefacts]src}/<name>/tests)")


def test_release_procedure_is_documented() -> None:
    text = (ROOT / "docs" / "releasing.md").read_text(encoding="utf-8")
    for needed in ("CHANGELOG.md", "__version__", "twine upload", "python3 dev.py test"):
        assert needed in text, needed



def test_applications_ship_their_manual_pages(dist: Distribution) -> None:
    """Each ``mco`` application a distribution declares has its page (written by
    ``python3 dev.py generate``) and the wheel installs it."""
    apps = dist.pyproject["project"].get("entry-points", {}).get("mcollective.applications", {})
    if not apps:
        return
    for name in apps:
        page = dist.path / "share" / "man" / "man1" / f"mco-{name}.1"
        assert page.is_file(), f"{page.relative_to(ROOT)} missing: run python3 dev.py generate"
    shared = dist.pyproject["tool"]["hatch"]["build"]["targets"]["wheel"].get("shared-data", {})
    assert shared.get("share/man") == "share/man", "the wheel must install share/man"
