"""Loading the system source through its real entry point, with core's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcollective.config import config_from_text, load_config
from mcollective.plugins import installed_plugins, make_plugin_manager
from mcollective_facts_system.source import SystemFactsSource


def test_entry_point_is_installed() -> None:
    found = [p for p in installed_plugins("facts") if p.name == "system"]
    assert len(found) == 1
    assert found[0].distribution == "mcollective-facts-system"


def test_created_through_the_plugin_manager() -> None:
    config = config_from_text("factsource = system\nfact_cache_time = 42\n", role="server")
    sources = make_plugin_manager().create_facts_sources(config)
    assert [name for name, _ in sources] == ["system"]
    source = sources[0][1]
    assert isinstance(source, SystemFactsSource)
    assert source.cache_time == 42
    assert source.get()["processorcount"] >= 1


def test_unknown_plugin_key_warns_with_file_line_and_key(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = tmp_path / "server.cfg"
    cfg.write_text("factsource = system\nplugin.system.cache_time = 5\n")
    with caplog.at_level("WARNING", logger="mcollective.config"):
        sources = make_plugin_manager().create_facts_sources(load_config(cfg, role="server"))
    assert sources
    assert f"{cfg}:2: ignoring unknown key 'plugin.system.cache_time'" in caplog.text
