"""The nettest_fqdn validator, the nettest_mma aggregate and the probes on their own."""

from __future__ import annotations

import socket

import pytest

from mcollective.errors import ValidatorError
from mcollective.plugins import make_plugin_manager
from mcollective_agent_nettest.aggregate import DEFAULT_FORMAT, NettestMma
from mcollective_agent_nettest.probes import Address, parse_ping_rtt, ping_command
from mcollective_agent_nettest.validator import nettest_fqdn


@pytest.mark.parametrize("value", ["localhost", "example.com", "host1.example.com",
                                   "1.2.3.4", "::1", "fe80::1", "a-b.c-d.example.",
                                   "123.example"])
def test_fqdn_accepts(value: str) -> None:
    nettest_fqdn(value)


@pytest.mark.parametrize("value", ["", "not a hostname", "www.rspec.com/rspec", "localhost#",
                                   "-lead.example", "trail-.example", "a..b", 42,
                                   "x" * 64 + ".example"])
def test_fqdn_refuses(value: object) -> None:
    with pytest.raises(ValidatorError):
        nettest_fqdn(value)


def test_validator_and_aggregate_load_by_entry_point() -> None:
    plugins = make_plugin_manager()
    assert plugins.create_validator("nettest_fqdn") is nettest_fqdn
    assert isinstance(plugins.create_aggregate("nettest_mma", "rtt", {}), NettestMma)


def test_mma() -> None:
    agg = NettestMma("rtt", {})
    for value in (1.0, "2.5", 8, None, "n/a", True):
        agg.process(value, {})
    result = agg.result()
    assert result.value == (1.0, 8.0, 11.5 / 3)
    assert result.format == DEFAULT_FORMAT
    assert result.extra == {"count": 3}
    assert result.lines() == ["Min: 1.000  Max: 8.000  Average: 3.833"]


def test_mma_format_option_and_no_values() -> None:
    agg = NettestMma("rtt", {"format": "Min: %.3fms  Max: %.3fms  Average: %.3fms"})
    result = agg.result()
    assert result.value == (0.0, 0.0, 0.0)
    assert result.format.endswith("Average: %.3fms")


def test_parse_ping_rtt() -> None:
    iputils = ("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n"
               "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms\n")
    assert parse_ping_rtt(iputils) == 0.045
    assert parse_ping_rtt("64 bytes from 10.0.0.1: seq=0 ttl=64 time=12 ms") == 12.0
    assert parse_ping_rtt("reply from 10.0.0.1: time<1 ms") == 1.0
    assert parse_ping_rtt("1 packets transmitted, 0 received") is None


def test_ping_command() -> None:
    v4 = Address(socket.AF_INET, "10.0.0.1")
    assert ping_command("/bin/ping", v4, 2.5) == ["/bin/ping", "-4", "-n", "-c", "1", "-W",
                                                  "3", "10.0.0.1"]
    assert ping_command("ping", Address(socket.AF_INET6, "::1"), 0.2)[1] == "-6"
