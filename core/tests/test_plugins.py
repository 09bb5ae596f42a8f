"""The plugin manager: loading by name, errors naming plugins, the typed facade."""

from __future__ import annotations

import pytest

from mcollective import hookimpl
from mcollective.agents.rpcutil import Rpcutil
from mcollective.config import config_from_text
from mcollective.errors import PluginLoadError
from mcollective.plugins import KINDS, installed_plugins, make_plugin_manager


def test_core_plugins_are_entry_points() -> None:
    found = {(p.kind, p.name): p for p in installed_plugins()}
    for kind, name in [("agent", "rpcutil"), ("agent", "discovery"), ("discovery", "mc"),
                       ("registration", "agentlist"), ("application", "rpc"),
                       ("application", "ping"), ("application", "plugins")]:
        assert found[(kind, name)].distribution == "mcollective-core"


def test_every_kind_has_a_documented_spec() -> None:
    pm = make_plugin_manager()
    for kind in KINDS.values():
        caller = getattr(pm.pm.hook, kind.hook)
        assert caller.spec is not None, kind
        doc = caller.spec.function.__doc__ or ""
        assert "Called" in doc or "called" in doc, f"{kind.hook} does not say when it is called"


def test_missing_plugin_names_kind_installed_and_closest() -> None:
    pm = make_plugin_manager()
    with pytest.raises(PluginLoadError) as info:
        pm.load("agent", "rpcutl")
    message = str(info.value)
    assert "no agent plugin 'rpcutl'" in message
    assert "installed:" in message and "rpcutil" in message
    assert "did you mean 'rpcutil'?" in message


def test_missing_required_connector_is_fatal() -> None:
    config = config_from_text("connector = rabit\n")
    with pytest.raises(PluginLoadError, match="no connector plugin 'rabit'"):
        make_plugin_manager().create_connector(config)


def test_agent_class_is_its_own_plugin() -> None:
    pm = make_plugin_manager()
    classes = pm.agent_classes(config_from_text(""), names=["rpcutil"])
    assert classes == {"rpcutil": Rpcutil}


def test_broken_optional_plugin_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    pm = make_plugin_manager(load_entrypoints=False)

    class Broken:
        @hookimpl
        @staticmethod
        def mco_facts_create(name: str) -> object:
            raise RuntimeError("disk on fire")

    class Good:
        @hookimpl
        @staticmethod
        def mco_facts_create(name: str) -> object:
            return {"good": True}

    pm.register("facts", "broken", Broken)
    pm.register("facts", "good", Good)
    made = pm._create_optional("facts", ["broken", "good", "absent"],
                               config=config_from_text(""))
    assert made == [("good", {"good": True})]
    assert "facts plugin 'broken'" in caplog.text
    assert "no facts plugin 'absent'" in caplog.text


def test_plugin_with_unknown_hook_argument_rejected() -> None:
    pm = make_plugin_manager(load_entrypoints=False)

    class Bad:
        @hookimpl
        @staticmethod
        def mco_facts_create(name: str, bogus: int) -> object:
            return {}

    with pytest.raises(PluginLoadError, match="facts plugin 'bad'"):
        pm.register("facts", "bad", Bad)


def test_plugin_without_the_kinds_hook_rejected() -> None:
    pm = make_plugin_manager(load_entrypoints=False)

    class Nothing:
        pass

    with pytest.raises(PluginLoadError, match="does not implement mco_connector_create"):
        pm.register("connector", "nothing", Nothing)


def test_manager_is_built_fresh_each_time() -> None:
    a, b = make_plugin_manager(), make_plugin_manager()
    assert a.pm is not b.pm


@pytest.mark.parametrize(("kind", "name", "distribution", "role"), [
    ("connector", "kombu", "mcollective-connector-kombu", True),
    ("security", "psk", "mcollective-security-psk", True),
    ("facts", "yaml", "mcollective-facts-yaml", True),
    ("security", "jwt", "mcollective-security-jwt", False),
])
def test_a_missing_published_plugin_names_its_distribution(
        kind: str, name: str, distribution: str, role: bool) -> None:
    """Core alone starts with defaults (kombu, psk, system + yaml facts) that other
    distributions provide: the error says which one to install, and the role extras."""
    pm = make_plugin_manager(load_entrypoints=False)  # as if only core were installed
    with pytest.raises(PluginLoadError) as info:
        pm.load(kind, name)
    message = str(info.value)
    assert f"no {kind} plugin '{name}'" in message
    assert f"it comes with {distribution}" in message
    assert ("mcollective-core[server]" in message) is role
    assert "\n" not in message
