"""The Ohai facts source against Debian's real ``ohai``, through real daemons and the
real ``mco``."""

from __future__ import annotations

import json
import time

import pytest

from mcollective.config import config_from_text
from mcollective.errors import ConfigError
from mcollective.testing import LocalCollective
from mcollective.testing.brokers import require_program
from mcollective_facts_ohai import plugin


def test_settings() -> None:
    source = plugin.mco_facts_create(config_from_text(
        "plugin.ohai.command = /usr/bin/ohai -l fatal\nplugin.ohai.cache_time = 60\n",
        role="server"))
    assert source.command == ["/usr/bin/ohai", "-l", "fatal"]
    assert source.cache_time == 60
    assert source.timeout == 120
    with pytest.raises(ConfigError, match=r"plugin\.ohai\.cache_time"):
        plugin.mco_facts_create(config_from_text("plugin.ohai.cache_time = -1\n",
                                                 role="server"))


def test_real_ohai() -> None:
    require_program("ohai")
    source = plugin.mco_facts_create(config_from_text("", role="server"))
    source.start()
    assert source.get() == {} or source.describe()["loaded"]
    assert source.wait_loaded(240), source.describe()
    facts = source.get()
    assert facts["platform_family"] == "debian"
    assert isinstance(facts["kernel"], dict) and facts["kernel"]["name"] == "Linux"


def test_find_by_ohai_fact_through_daemons(local_collective: LocalCollective) -> None:
    require_program("ohai")
    local_collective.add_node("chef1", settings={"factsource": "yaml, ohai"})
    local_collective.add_node("plain1", facts={"platform_family": "rhel"})
    deadline = time.monotonic() + 240
    while True:
        found = local_collective.mco("find", "-F", "platform_family=debian").stdout.split()
        if found == ["chef1"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found == ["chef1"]
    assert local_collective.mco("find", "-F", "kernel.name=Linux").stdout.split() \
        == ["chef1"]
    facts = local_collective.mco("facts", "platform_family")
    assert "debian" in facts.stdout and "rhel" in facts.stdout
    stats = json.loads(local_collective.mco("rpc", "rpcutil", "daemon_stats", "-I",
                                            "chef1", "--json-format", "mcollective").stdout)
    assert stats[0]["data"]["facts"]["ohai"]["loaded"] is True
