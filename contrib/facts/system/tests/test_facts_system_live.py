"""The real probes on the machine running the tests: the facts exist and have sane
types and values."""

from __future__ import annotations

import ipaddress
import json
import platform
from typing import Any

import psutil
import pytest

from mcollective_facts_system.source import SystemFactsSource


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    return SystemFactsSource(300).get()


def test_os(facts: dict[str, Any]) -> None:
    assert isinstance(facts["os"]["name"], str) and facts["os"]["name"]
    assert isinstance(facts["os"]["family"], str) and facts["os"]["family"]
    assert facts["osfamily"] == facts["os"]["family"]
    assert facts["operatingsystem"] == facts["os"]["name"]
    if "release" in facts["os"]:
        release = facts["os"]["release"]
        assert isinstance(release["full"], str)
        assert release["full"].startswith(release["major"])
        assert facts["operatingsystemrelease"] == release["full"]


def test_kernel_and_architecture(facts: dict[str, Any]) -> None:
    assert facts["kernel"] == platform.system()
    assert facts["kernelrelease"] == platform.release()
    assert facts["kernelrelease"].startswith(facts["kernelversion"])
    assert facts["kernelversion"].startswith(facts["kernelmajversion"])
    assert facts["hardwaremodel"] == platform.machine()
    assert isinstance(facts["architecture"], str) and facts["architecture"]
    assert facts["os"]["architecture"] == facts["architecture"]


def test_processors(facts: dict[str, Any]) -> None:
    assert facts["processorcount"] == facts["processors"]["count"] == psutil.cpu_count()
    assert isinstance(facts["processorcount"], int) and facts["processorcount"] >= 1
    if "cores" in facts["processors"]:
        assert 1 <= facts["processors"]["cores"] <= facts["processorcount"]


def test_memory(facts: dict[str, Any]) -> None:
    system = facts["memory"]["system"]
    assert isinstance(system["total_bytes"], int) and system["total_bytes"] > 0
    assert 0 <= system["available_bytes"] <= system["total_bytes"]
    assert system["used_bytes"] == system["total_bytes"] - system["available_bytes"]
    assert isinstance(facts["memorysize_mb"], float)
    assert facts["memorysize_mb"] == round(system["total_bytes"] / 2**20, 2)
    assert 0 <= facts["memoryfree_mb"] <= facts["memorysize_mb"]


def test_names(facts: dict[str, Any]) -> None:
    assert isinstance(facts["hostname"], str) and facts["hostname"]
    assert "." not in facts["hostname"]
    assert facts["fqdn"].startswith(facts["hostname"])
    if "domain" in facts:
        assert facts["fqdn"] == f"{facts['hostname']}.{facts['domain']}"
    assert facts["networking"]["fqdn"] == facts["fqdn"]


def test_addresses(facts: dict[str, Any]) -> None:
    net = facts["networking"]
    assert isinstance(net["interfaces"], dict) and net["interfaces"]
    for address in net["ipv4"]:
        assert not ipaddress.IPv4Address(address).is_loopback
    for address in net["ipv6"]:
        assert not ipaddress.IPv6Address(address).is_link_local
    everything = [a for i in net["interfaces"].values() for a in i["ipv4"]]
    assert set(net["ipv4"]) <= set(everything)
    if "ipaddress" in facts:
        assert facts["ipaddress"] == net["ip"] and facts["ipaddress"] in net["ipv4"]
    if "primary" in net:
        assert net["primary"] in net["interfaces"]


def test_uptime_and_python(facts: dict[str, Any]) -> None:
    assert isinstance(facts["uptime_seconds"], int) and facts["uptime_seconds"] >= 0
    assert facts["system_uptime"]["seconds"] == facts["uptime_seconds"]
    assert facts["uptime_days"] == facts["uptime_seconds"] // 86400
    assert isinstance(facts["uptime"], str)
    assert facts["python"]["version"] == platform.python_version()


def test_facts_are_json(facts: dict[str, Any]) -> None:
    assert json.loads(json.dumps(facts, allow_nan=False)) == facts


def test_no_probe_fails_here(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="mcollective_facts_system"):
        SystemFactsSource(300).get()
    assert caplog.records == []


def test_facts_work_with_the_filter_engine(facts: dict[str, Any]) -> None:
    from mcollective.filters import Filter, Node

    node = Node("n1", facts=facts)
    family = facts["os"]["family"]
    assert Filter.build(facts=[f"os.family={family}", f"osfamily={family}",
                               "processors.count>=1", "memory.system.total_bytes>0",
                               f"kernel={facts['kernel']}"]).matches(node)
    assert not Filter.build(facts=["processorcount<1"]).matches(node)
