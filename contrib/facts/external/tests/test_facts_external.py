"""External facts: data files and executables in a facts.d directory, read as Facter
reads them, through the source and through real daemons and the real ``mco``."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from mcollective.config import config_from_text
from mcollective.errors import ConfigError
from mcollective.inventory_file import read_inventory
from mcollective.testing import LocalCollective
from mcollective_facts_external import plugin
from mcollective_facts_external.source import (
    ExternalFactError,
    ExternalFactsSource,
    parse_key_value,
    parse_output,
)


def executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def loaded(source: ExternalFactsSource) -> dict:
    source.start()
    assert source.wait_loaded(60), source.describe()
    return source.get()


def test_output_formats() -> None:
    assert parse_output('{"a": {"b": 1}}', "x") == {"a": {"b": 1}}
    assert parse_output("a:\n  b: 1\nc: [1, 2]\n", "x") == {"a": {"b": 1}, "c": [1, 2]}
    assert parse_output("role=web\ndc = ams\n", "x") == {"role": "web", "dc": "ams"}
    assert parse_output("url=http://x/?a=b\n", "x") == {"url": "http://x/?a=b"}
    assert parse_output("", "x") == {}
    with pytest.raises(ExternalFactError, match="x line 2: expected key=value"):
        parse_key_value("a=b\nnonsense\n", "x")


def test_directory_of_files_and_executables(tmp_path: Path) -> None:
    d = tmp_path / "facts.d"
    d.mkdir()
    (d / "a.yaml").write_text("site: ams\nrack: {row: 3}\n")
    (d / "b.json").write_text('{"tier": "gold", "site": "lon"}')
    (d / "c.txt").write_text("# comment\nowner=ops\n")
    executable(d / "d.sh", 'echo \'{"kernel_tag": "lts"}\'\n')
    executable(d / "e", "echo env=prod\n")
    executable(d / "f.py", "printf 'nested:\\n  x: 1\\n'\n")
    (d / "notes.md").write_text("not executable, not data: skipped")
    (d / "g.yaml~").write_text("backup: yes")
    facts = loaded(ExternalFactsSource([d], cache_time=300, timeout=10))
    assert facts == {"site": "lon", "rack": {"row": 3}, "tier": "gold", "owner": "ops",
                     "kernel_tag": "lts", "env": "prod", "nested": {"x": 1}}


def test_broken_file_keeps_its_last_good_facts(tmp_path: Path, caplog) -> None:
    d = tmp_path / "facts.d"
    d.mkdir()
    good = d / "role.yaml"
    good.write_text("role: web\n")
    (d / "other.txt").write_text("zone=a\n")
    source = ExternalFactsSource([d], cache_time=300, timeout=10)  # reload() only
    assert loaded(source) == {"role": "web", "zone": "a"}
    good.write_text("role: [unclosed\n")
    source.reload()
    deadline = time.monotonic() + 30
    while not source.describe()["file_errors"] and time.monotonic() < deadline:
        time.sleep(0.1)
    info = source.describe()
    assert "invalid YAML" in info["file_errors"][str(good)]
    assert str(good) in caplog.text and "keeping its last good facts" in caplog.text
    assert source.get()["role"] == "web"


def test_executable_timeout_and_failure(tmp_path: Path) -> None:
    d = tmp_path / "facts.d"
    d.mkdir()
    executable(d / "slow", "sleep 600\n")
    executable(d / "fails", "echo oops >&2; exit 4\n")
    executable(d / "fine", "echo ok=1\n")
    risky = executable(d / "risky", "echo owned=1\n")
    risky.chmod(0o777)
    source = ExternalFactsSource([d], cache_time=300, timeout=1)
    assert loaded(source) == {"ok": "1"}
    errors = source.describe()["file_errors"]
    assert "writable by everyone, not run" in errors[str(risky)]
    assert "did not finish within 1s" in errors[str(d / "slow")]
    assert "exited with code 4: oops" in errors[str(d / "fails")]


def test_settings(tmp_path: Path) -> None:
    config = config_from_text(f"plugin.external_facts.directory = {tmp_path}/a, b\n"
                              "plugin.external_facts.timeout = 3\n", role="server")
    source = plugin.mco_facts_create(config)
    assert source.directories[0] == tmp_path / "a"
    assert source.timeout == 3
    default = plugin.mco_facts_create(config_from_text("", role="server"))
    assert [str(p) for p in default.directories] == list(plugin.DEFAULT_DIRECTORIES)
    with pytest.raises(ConfigError, match=r"plugin\.external_facts\.timeout"):
        plugin.mco_facts_create(config_from_text("plugin.external_facts.timeout = x\n",
                                                 role="server"))


def test_find_by_external_fact_and_registration(local_collective: LocalCollective,
                                                tmp_path: Path) -> None:
    """A node combining yaml, external facts: found by an external fact (from an
    executable and from a data file), and its registration payload carries them."""
    d = tmp_path / "facts.d"
    d.mkdir()
    executable(d / "location", "echo datacenter=ams3\n")
    (d / "team.json").write_text('{"team": {"name": "payments"}}')
    registry = tmp_path / "inventory.yaml"
    registration = {"registerinterval": 2, "registration": "meta",
                    "registration_splay": 0}
    local_collective.add_node("registry1", settings={
        **registration, "plugin.registration.inventory": str(registry),
        "plugin.registration.expire": 60})
    local_collective.add_node("ext1", facts={"team": "yaml-loses"}, settings={
        "factsource": "yaml, external", "plugin.external_facts.directory": str(d),
        **registration})
    local_collective.add_node("plain1", facts={"datacenter": "lon1"})
    deadline = time.monotonic() + 90
    while True:
        found = local_collective.mco("find", "-F", "datacenter=ams3").stdout.split()
        if found == ["ext1"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert found == ["ext1"]
    # external after yaml in factsource: its 'team' wins, structured.
    assert local_collective.mco("find", "-F", "team.name=payments").stdout.split() \
        == ["ext1"]
    facts = local_collective.mco("facts", "datacenter")
    assert "ams3" in facts.stdout and "lon1" in facts.stdout
    inventory = json.loads(local_collective.mco("rpc", "rpcutil", "inventory", "-I",
                                                "ext1", "--json-format", "mcollective").stdout)
    assert inventory[0]["data"]["facts"]["datacenter"] == "ams3"
    # Registration carries them too (the receiver's inventory file).
    deadline = time.monotonic() + 60
    entry: dict = {}
    while time.monotonic() < deadline:
        entry = read_inventory(registry)["nodes"].get("ext1", {}) if registry.exists() \
            else {}
        if entry.get("facts", {}).get("datacenter") == "ams3":
            break
        time.sleep(0.5)
    assert entry["facts"]["datacenter"] == "ams3"
    assert entry["facts"]["team"] == {"name": "payments"}
