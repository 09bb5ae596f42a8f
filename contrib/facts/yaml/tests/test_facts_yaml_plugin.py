"""Configuration of the yaml source, and loading it through its real entry point."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcollective.config import config_from_text, load_config
from mcollective.errors import ConfigError
from mcollective.plugins import installed_plugins, make_plugin_manager
from mcollective_facts_yaml.plugin import facts_files
from mcollective_facts_yaml.source import FactsFile, YamlFactsSource


def _cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.cfg"
    path.write_text(text)
    return path


def test_default_file_beside_the_config_file(tmp_path: Path) -> None:
    config = load_config(_cfg(tmp_path, "identity = n1\n"), role="server")
    assert facts_files(config) == [FactsFile(tmp_path / "facts.yaml", configured=False)]


def test_default_file_in_the_state_directory_without_a_config_file(tmp_path: Path) -> None:
    config = config_from_text(f"statedir = {tmp_path / 'state'}\n", role="server")
    assert facts_files(config) == [
        FactsFile(tmp_path / "state" / "facts.yaml", configured=False)]


def test_configured_files_in_order_relative_to_the_config(tmp_path: Path) -> None:
    sep = os.pathsep
    config = load_config(
        _cfg(tmp_path, f"plugin.yaml = /srv/a.yaml{sep}{sep} local/b.yaml {sep}\n"),
        role="server")
    assert facts_files(config) == [
        FactsFile(Path("/srv/a.yaml"), configured=True),
        FactsFile(tmp_path / "local" / "b.yaml", configured=True),
    ]


@pytest.mark.parametrize(("line", "key"), [
    ("plugin.yaml =", "plugin.yaml"),
    (f"plugin.yaml = {os.pathsep}", "plugin.yaml"),
])
def test_bad_configuration_names_file_line_and_key(tmp_path: Path, line: str,
                                                   key: str) -> None:
    cfg = _cfg(tmp_path, f"identity = n1\n{line}\n")
    with pytest.raises(ConfigError) as info:
        facts_files(load_config(cfg, role="server"))
    assert info.value.key == key
    assert info.value.file == str(cfg) and info.value.line == 2


def test_entry_point_is_installed() -> None:
    found = [p for p in installed_plugins("facts") if p.name == "yaml"]
    assert len(found) == 1
    assert found[0].distribution == "mcollective-facts-yaml"


def test_created_through_the_plugin_manager(tmp_path: Path) -> None:
    (tmp_path / "facts.yaml").write_text("role: web\nos: {family: Debian}\n")
    config = load_config(_cfg(tmp_path, "factsource = yaml\n"), role="server")
    sources = make_plugin_manager().create_facts_sources(config)
    assert [name for name, _ in sources] == ["yaml"]
    assert isinstance(sources[0][1], YamlFactsSource)
    assert sources[0][1].get() == {"role": "web", "os": {"family": "Debian"}}


def test_configuration_errors_reach_the_caller(tmp_path: Path) -> None:
    config = load_config(_cfg(tmp_path, "factsource = yaml\nplugin.yaml =\n"),
                         role="server")
    with pytest.raises(ConfigError, match=r"plugin\.yaml"):
        make_plugin_manager().create_facts_sources(config)
