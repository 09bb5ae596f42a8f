"""The entry-point index kept between runs (mcollective.entry_point_index): the same
answer as importlib.metadata, read without it when nothing was installed since, and
never a stale or foreign answer. Real distributions: small ``*.dist-info`` directories
written into a temporary directory put on the path, as pip writes them."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcollective import entry_point_index as epi


def make_dist(site: Path, name: str, version: str, eps: dict[str, dict[str, str]]) -> Path:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, entries in eps.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return info


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "epi_probe.py").write_text("VALUE = {'answer': 42}\nclass Holder:\n    inner = 7\n")
    make_dist(site, "epi-probe", "1.2.3",
              {"epi.test": {"value": "epi_probe:VALUE", "nested": "epi_probe:Holder.inner",
                            "module": "epi_probe"}})
    monkeypatch.syspath_prepend(str(site))
    return site


def test_same_entry_points_as_importlib_metadata(site: Path, tmp_path: Path) -> None:
    index = epi.read_index(tuple(sys.path), str(tmp_path / "cache"))
    ours = {(ep.group, ep.name, ep.value) for eps in index.values() for ep in eps}
    theirs = {(ep.group, ep.name, ep.value)
              for dist in importlib.metadata.distributions() for ep in dist.entry_points}
    # importlib.metadata lists an entry point once per distribution found; the index
    # keeps the first of each (group, name), as plugin loading always did.
    assert ours <= theirs
    assert {(g, n) for g, n, _ in theirs} == {(g, n) for g, n, _ in ours}
    probe = {ep.name: ep for ep in index["epi.test"]}
    assert probe["value"].distribution == "epi-probe" and probe["value"].version == "1.2.3"
    assert probe["value"].load() == {"answer": 42}
    assert probe["nested"].load() == 7
    assert probe["module"].load().__name__ == "epi_probe"
    assert probe["nested"].module == "epi_probe"


def test_second_read_comes_from_the_file(site: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = epi.read_index(tuple(sys.path), str(cache))
    files = list(cache.glob("entry-points-*.json"))
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o077 == 0

    def no_scan() -> epi.Index:
        raise AssertionError("scanned although the index matches")

    monkeypatch.setattr(epi, "scan", no_scan)
    assert epi.read_index(tuple(sys.path), str(cache)) == first


def test_an_install_or_removal_changes_the_index(site: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    path = tuple(sys.path)
    assert "epi.new" not in epi.read_index(path, cache)
    new = make_dist(site, "epi-new", "0.1", {"epi.new": {"x": "epi_probe:VALUE"}})
    assert [ep.name for ep in epi.read_index(path, cache)["epi.new"]] == ["x"]
    for file in new.iterdir():
        file.unlink()
    new.rmdir()
    assert "epi.new" not in epi.read_index(path, cache)


def test_an_entry_points_file_rewritten_in_place_changes_the_index(
        site: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    path = tuple(sys.path)
    assert "later" not in {ep.name for ep in epi.read_index(path, cache)["epi.test"]}
    eps = site / "epi-probe-1.2.3.dist-info" / "entry_points.txt"
    eps.write_text(eps.read_text() + "later = epi_probe:VALUE\n")
    stamp = eps.stat().st_mtime_ns + 10_000_000  # a coarse clock must still see it
    os.utime(eps, ns=(stamp, stamp))
    assert "later" in {ep.name for ep in epi.read_index(path, cache)["epi.test"]}


def test_files_written_by_others_or_damaged_are_not_used(
        site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = tuple(sys.path)
    epi.read_index(path, str(cache))
    (file,) = cache.glob("entry-points-*.json")
    doc = json.loads(file.read_text())
    doc["groups"]["epi.test"] = [["value", "os:system", "evil", "6.6.6"]]
    file.write_text(json.dumps(doc))
    file.chmod(0o666)  # anybody could have written it: not read, rebuilt
    index = epi.read_index(path, str(cache))
    assert {ep.value for ep in index["epi.test"]} >= {"epi_probe:VALUE"}
    file.write_text("{not json")
    file.chmod(0o600)
    assert "epi.test" in epi.read_index(path, str(cache))


def test_no_usable_cache_directory_still_answers(site: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    index = epi.read_index(tuple(sys.path), str(blocker / "cache"))
    assert "epi.test" in index
    assert epi.read_index(tuple(sys.path), None)["epi.test"] == index["epi.test"]


def test_old_index_files_are_pruned(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for i in range(epi.KEEP + 5):
        old = cache / f"entry-points-{i:032x}.json"
        old.write_text("{}")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    epi.read_index(tuple(sys.path), str(cache))
    assert len(list(cache.glob("entry-points-*.json"))) == epi.KEEP


def test_cache_directory_follows_xdg() -> None:
    assert epi.cache_directory({"XDG_CACHE_HOME": "/x/cache"}) == "/x/cache/mcollective"
    assert epi.cache_directory({}).endswith(os.path.join(".cache", "mcollective"))
    # The service's CacheDirectory= (docs/service.md)
    assert epi.cache_directory({"CACHE_DIRECTORY": "/var/cache/mcollective:/other",
                                "XDG_CACHE_HOME": "/x"}) == "/var/cache/mcollective"


def test_a_warm_index_loads_plugins_without_importlib_metadata(tmp_path: Path) -> None:
    """What the index is for: a process that finds and loads its plugins reads no
    distribution metadata and never imports importlib.metadata. (Core's own plugins:
    this distribution's tests run with core alone installed; the kombu plugin's tests
    check that kombu, loaded by its plugin, leaves importlib.metadata unloaded too.)"""
    probe = textwrap.dedent("""
        import json, sys
        from mcollective.plugins import make_plugin_manager
        pm = make_plugin_manager()
        pm.load("application", "ping")
        pm.load("agent", "rpcutil")
        pm.load("discovery", "mc")
        print(json.dumps("importlib.metadata" in sys.modules))
    """)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("CACHE_DIRECTORY", None)

    def run() -> bool:
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                             text=True, timeout=120, check=True).stdout
        return bool(json.loads(out.splitlines()[-1]))

    assert run() is True  # the first process builds the index with importlib.metadata
    assert run() is False  # the next one reads it
    assert len(list((tmp_path / "cache" / "mcollective").glob("entry-points-*.json"))) == 1
