"""The probes against fake /etc and /proc trees and faked system calls."""

from __future__ import annotations

import platform
import socket
from pathlib import Path
from typing import Any, NamedTuple

import psutil
import pytest

from mcollective_facts_system import network
from mcollective_facts_system.context import ProbeContext, merged
from mcollective_facts_system.network import (
    addresses_probe,
    default_route_interface,
    interfaces_from,
    names_probe,
)
from mcollective_facts_system.osinfo import os_probe, parse_os_release, release_parts
from mcollective_facts_system.probes import (
    architecture_probe,
    describe_uptime,
    kernel_probe,
    uptime_probe,
)


def tree(tmp_path: Path, files: dict[str, str]) -> ProbeContext:
    for name, text in files.items():
        path = tmp_path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ProbeContext(tmp_path)


# --- os -------------------------------------------------------------------------------


def test_parse_os_release() -> None:
    info = parse_os_release('# comment\nNAME="Debian GNU/Linux"\nID=debian\n'
                            "PRETTY_NAME='Quoted \"inner\"'\nBAD LINE\n"
                            'ESCAPED="a \\"b\\" c"\nUNBALANCED="oops\n\n')
    assert info == {"NAME": "Debian GNU/Linux", "ID": "debian",
                    "PRETTY_NAME": 'Quoted "inner"', "ESCAPED": 'a "b" c',
                    "UNBALANCED": "oops"}


def test_release_parts() -> None:
    assert release_parts("22.04") == {"full": "22.04", "major": "22", "minor": "04"}
    assert release_parts("9") == {"full": "9", "major": "9"}
    assert release_parts("15.5.1") == {"full": "15.5.1", "major": "15", "minor": "5"}


DISTROS = {
    "debian": ({"/etc/os-release": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
                                   'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
                "/etc/debian_version": "12.5\n"},
               "Debian", "Debian", "12.5", "12"),
    "debian testing": ({"/etc/os-release": "ID=debian\nVERSION_CODENAME=trixie\n",
                        "/etc/debian_version": "trixie/sid\n"},
                       "Debian", "Debian", None, None),
    "ubuntu": ({"/etc/os-release": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n'},
               "Ubuntu", "Debian", "22.04", "22"),
    "rocky": ({"/etc/os-release": 'ID="rocky"\nID_LIKE="rhel centos fedora"\n'
                                  'VERSION_ID="9.3"\n'},
              "Rocky", "RedHat", "9.3", "9"),
    "amazon": ({"/etc/os-release": 'ID="amzn"\nID_LIKE="centos rhel fedora"\n'
                                   'VERSION_ID="2"\n'},
               "Amazon", "RedHat", "2", "2"),
    "rhel": ({"/etc/os-release": 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="8.9"\n'},
             "RedHat", "RedHat", "8.9", "8"),
    "leap": ({"/etc/os-release": 'ID="opensuse-leap"\nID_LIKE="suse opensuse"\n'
                                 'VERSION_ID="15.5"\n'},
             "OpenSuSE", "Suse", "15.5", "15"),
    "arch": ({"/etc/os-release": "ID=arch\nPRETTY_NAME=\"Arch Linux\"\n"},
             "Archlinux", "Archlinux", None, None),
    "manjaro": ({"/etc/os-release": "ID=manjaro\nID_LIKE=arch\n"},
                "Manjaro", "Archlinux", None, None),
    "unknown": ({"/etc/os-release": 'ID=void\nVERSION_ID="20240101"\n'},
                "Void", platform.system(), "20240101", "20240101"),
    "usr lib": ({"/usr/lib/os-release": 'ID=fedora\nVERSION_ID=39\n'},
                "Fedora", "RedHat", "39", "39"),
}


@pytest.mark.parametrize("case", DISTROS.values(), ids=DISTROS.keys())
def test_os_from_os_release(tmp_path: Path, case: tuple[Any, ...]) -> None:
    files, name, family, full, major = case
    facts = os_probe(tree(tmp_path, files))
    assert facts["os"]["name"] == facts["operatingsystem"] == name
    assert facts["os"]["family"] == facts["osfamily"] == family
    if full is None:
        assert "release" not in facts["os"] and "operatingsystemrelease" not in facts
    else:
        assert facts["os"]["release"]["full"] == facts["operatingsystemrelease"] == full
        assert facts["os"]["release"]["major"] == facts["operatingsystemmajrelease"] == major
        assert facts["os"]["distro"]["release"] == facts["os"]["release"]


def test_os_distro_details(tmp_path: Path) -> None:
    facts = os_probe(tree(tmp_path, DISTROS["debian"][0]))
    assert facts["os"]["distro"] == {
        "id": "debian", "codename": "bookworm",
        "description": "Debian GNU/Linux 12 (bookworm)",
        "release": {"full": "12.5", "major": "12", "minor": "5"}}


def test_os_without_os_release_uses_platform(tmp_path: Path) -> None:
    facts = os_probe(ProbeContext(tmp_path))
    system = platform.system()
    expected = "windows" if system == "Windows" else system
    assert facts["os"]["name"] == facts["os"]["family"] == expected


# --- kernel and architecture ----------------------------------------------------------


def test_kernel_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    uname = platform.uname()._replace(system="Linux", release="6.1.0-18-amd64")
    monkeypatch.setattr(platform, "uname", lambda: uname)
    assert kernel_probe(ProbeContext()) == {
        "kernel": "Linux", "kernelrelease": "6.1.0-18-amd64", "kernelversion": "6.1.0",
        "kernelmajversion": "6.1"}


@pytest.mark.parametrize(("family", "machine", "expected"), [
    ("Debian", "x86_64", "amd64"), ("Debian", "aarch64", "arm64"),
    ("RedHat", "x86_64", "x86_64"), (None, "aarch64", "aarch64"),
])
def test_architecture(monkeypatch: pytest.MonkeyPatch, family: str | None, machine: str,
                      expected: str) -> None:
    monkeypatch.setattr(platform, "machine", lambda: machine)
    facts = {"os": {"family": family}} if family else {}
    result = architecture_probe(ProbeContext(facts=facts))
    assert result["architecture"] == result["os"]["architecture"] == expected
    assert result["hardwaremodel"] == result["os"]["hardware"] == machine


# --- names ----------------------------------------------------------------------------


def _no_resolver(*args: Any, **kwargs: Any) -> Any:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_qualified_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "web1.example.com")
    monkeypatch.setattr(socket, "getaddrinfo", _no_resolver)
    facts = names_probe(ProbeContext())
    assert facts["hostname"] == "web1"
    assert facts["domain"] == "example.com"
    assert facts["fqdn"] == "web1.example.com"
    assert facts["networking"] == {"hostname": "web1", "domain": "example.com",
                                   "fqdn": "web1.example.com"}


def test_domain_from_the_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "web1")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "web1.dc1.example.net", ("10.0.0.1", 0))])
    assert names_probe(ProbeContext())["fqdn"] == "web1.dc1.example.net"


@pytest.mark.parametrize(("resolv", "fqdn"), [
    ("nameserver 10.0.0.1\nsearch corp.example other.example\n", "web1.corp.example"),
    ("domain lab.example.\nsearch corp.example\n", "web1.lab.example"),
    ("nameserver 10.0.0.1\n", "web1"),
])
def test_domain_from_resolv_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 resolv: str, fqdn: str) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "web1")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "localhost", ("127.0.1.1", 0))])
    facts = names_probe(tree(tmp_path, {"/etc/resolv.conf": resolv}))
    assert facts["fqdn"] == fqdn
    assert ("domain" in facts) == (fqdn != "web1")


# --- addresses ------------------------------------------------------------------------


class Addr(NamedTuple):
    family: int
    address: str
    netmask: str | None = None
    broadcast: str | None = None
    ptp: str | None = None


ADDRS = {
    "lo": [Addr(socket.AF_INET, "127.0.0.1"), Addr(socket.AF_INET6, "::1"),
           Addr(psutil.AF_LINK, "00:00:00:00:00:00")],
    "eth0": [Addr(socket.AF_INET, "10.0.0.5"), Addr(socket.AF_INET, "10.0.0.6"),
             Addr(socket.AF_INET6, "fe80::1%eth0"), Addr(socket.AF_INET6, "2001:db8::5"),
             Addr(psutil.AF_LINK, "02:AB:00:00:00:01")],
    "wg0": [Addr(socket.AF_INET, "172.16.0.2")],
    "docker0": [Addr(socket.AF_INET6, "fe80::42%docker0")],
}

ROUTE = ("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
         "wg0\t00000000\t010010AC\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
         "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
         "eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")


def test_interfaces_from_psutil_data() -> None:
    interfaces = interfaces_from(ADDRS)
    assert list(interfaces) == ["docker0", "eth0", "lo", "wg0"]
    assert interfaces["eth0"] == {"ipv4": ["10.0.0.5", "10.0.0.6"],
                                  "ipv6": ["fe80::1", "2001:db8::5"], "ip": "10.0.0.5",
                                  "ip6": "2001:db8::5", "mac": "02:ab:00:00:00:01"}
    assert interfaces["lo"] == {"ipv4": ["127.0.0.1"], "ipv6": ["::1"],
                                "ip": "127.0.0.1", "ip6": "::1"}
    assert interfaces["docker0"] == {"ipv4": [], "ipv6": ["fe80::42"], "ip6": "fe80::42"}


def test_default_route_with_the_lowest_metric(tmp_path: Path) -> None:
    assert default_route_interface(tree(tmp_path, {"/proc/net/route": ROUTE})) == "eth0"
    assert default_route_interface(ProbeContext(tmp_path / "none")) is None


def test_addresses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network.psutil, "net_if_addrs", lambda: ADDRS)
    facts = addresses_probe(tree(tmp_path, {"/proc/net/route": ROUTE}))
    net = facts["networking"]
    assert net["primary"] == "eth0"
    assert net["ipv4"] == ["10.0.0.5", "10.0.0.6", "172.16.0.2"]
    assert net["ipv6"] == ["2001:db8::5"]
    assert (net["ip"], net["ip6"], net["mac"]) == ("10.0.0.5", "2001:db8::5",
                                                   "02:ab:00:00:00:01")
    assert (facts["ipaddress"], facts["ipaddress6"], facts["macaddress"]) == (
        "10.0.0.5", "2001:db8::5", "02:ab:00:00:00:01")


def test_addresses_without_a_default_route(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    addrs = {"lo": ADDRS["lo"], "wg0": ADDRS["wg0"], "docker0": ADDRS["docker0"]}
    monkeypatch.setattr(network.psutil, "net_if_addrs", lambda: addrs)
    facts = addresses_probe(ProbeContext(tmp_path))
    assert facts["networking"]["primary"] == "wg0"
    assert facts["ipaddress"] == "172.16.0.2"
    assert "ipaddress6" not in facts and "macaddress" not in facts
    assert facts["networking"]["ipv6"] == []


def test_loopback_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network.psutil, "net_if_addrs", lambda: {"lo": ADDRS["lo"]})
    facts = addresses_probe(ProbeContext(tmp_path))
    assert facts == {"networking": {"interfaces": interfaces_from({"lo": ADDRS["lo"]}),
                                    "ipv4": [], "ipv6": []}}


# --- uptime ---------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 minutes"), (60, "1 minute"), (3599, "59 minutes"), (3600, "1:00 hours"),
    (18420, "5:07 hours"), (86400, "1 day"), (3 * 86400 + 5, "3 days"),
])
def test_describe_uptime(seconds: int, text: str) -> None:
    assert describe_uptime(seconds) == text


def test_uptime_from_proc(tmp_path: Path) -> None:
    facts = uptime_probe(tree(tmp_path, {"/proc/uptime": "190000.73 12.0\n"}))
    assert facts["uptime_seconds"] == 190000
    assert facts["system_uptime"] == {"seconds": 190000, "hours": 52, "days": 2,
                                      "uptime": "2 days"}
    assert (facts["uptime_hours"], facts["uptime_days"], facts["uptime"]) == (
        52, 2, "2 days")


def test_uptime_without_proc(tmp_path: Path) -> None:
    facts = uptime_probe(ProbeContext(tmp_path))
    assert isinstance(facts["uptime_seconds"], int) and facts["uptime_seconds"] >= 0


# --- helpers --------------------------------------------------------------------------


def test_merged_is_deep_and_pure() -> None:
    base = {"os": {"family": "Debian"}, "a": 1}
    extra = {"os": {"architecture": "amd64"}, "a": {"b": 2}}
    assert merged(base, extra) == {"os": {"family": "Debian", "architecture": "amd64"},
                                   "a": {"b": 2}}
    assert base == {"os": {"family": "Debian"}, "a": 1}


def test_context_fact_lookup() -> None:
    ctx = ProbeContext(facts={"os": {"family": "RedHat"}, "flat": 1})
    assert ctx.fact("os.family") == "RedHat"
    assert ctx.fact("flat") == 1
    assert ctx.fact("os.missing") is None and ctx.fact("flat.deeper") is None
