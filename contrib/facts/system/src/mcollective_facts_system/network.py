"""Names and addresses: ``hostname``/``domain``/``fqdn`` and the ``networking`` facts.

Names are looked up once (the fully qualified name may need a resolver round trip,
which can be slow when DNS is broken); addresses are re-read on every refresh because
DHCP, VPNs and container networking change them under a running daemon.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import psutil

from mcollective_facts_system.context import ProbeContext


def _resolv_conf_domain(ctx: ProbeContext) -> str | None:
    try:
        text = ctx.path("/etc/resolv.conf").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    search = None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "domain":
            return words[1].rstrip(".")
        if len(words) >= 2 and words[0] == "search" and search is None:
            search = words[1].rstrip(".")
    return search


def _canonical_name(host: str) -> str | None:
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_CANONNAME)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        if info[3] and "." in info[3] and not info[3].startswith("localhost"):
            return info[3].rstrip(".")
    return None


def names_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``hostname`` (short), ``domain`` and ``fqdn``, flat and under ``networking``.

    Like ``hostname -f``: the system host name if it is already qualified, else the
    resolver's canonical name for it, else the short name plus the ``domain`` (or first
    ``search``) entry of ``/etc/resolv.conf``. Unlike ``socket.getfqdn()``, which may
    answer ``localhost`` on hosts whose name maps to 127.0.1.1.
    """
    node = socket.gethostname().rstrip(".")
    if not node:
        raise ValueError("the system has no host name")
    short, _, domain = node.partition(".")
    if not domain:
        canonical = _canonical_name(node)
        if canonical and canonical.split(".", 1)[0].lower() == short.lower():
            domain = canonical.split(".", 1)[1]
    if not domain:
        domain = _resolv_conf_domain(ctx) or ""
    fqdn = f"{short}.{domain}" if domain else short
    names: dict[str, Any] = {"hostname": short, "fqdn": fqdn}
    if domain:
        names["domain"] = domain
    return {**names, "networking": dict(names)}


def default_route_interface(ctx: ProbeContext) -> str | None:
    """The interface of the IPv4 default route with the lowest metric (Linux)."""
    try:
        lines = ctx.path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[1] != "00000000" or fields[7] != "00000000":
            continue
        try:
            metric = int(fields[6])
        except ValueError:
            continue
        if best is None or metric < best[0]:
            best = (metric, fields[0])
    return best[1] if best else None


def _off_link_v6(address: str) -> bool:
    ip = ipaddress.IPv6Address(address)
    return not (ip.is_loopback or ip.is_link_local)


def interfaces_from(addrs: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """``networking.interfaces`` from ``psutil.net_if_addrs()``-shaped data."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(addrs):
        ipv4: list[str] = []
        ipv6: list[str] = []
        mac = None
        for entry in addrs[name]:
            if entry.family == socket.AF_INET:
                ipv4.append(entry.address)
            elif entry.family == socket.AF_INET6:
                ipv6.append(entry.address.split("%", 1)[0])  # drop the "%eth0" zone
            elif entry.family == psutil.AF_LINK and entry.address:
                mac = entry.address.lower()
        iface: dict[str, Any] = {"ipv4": ipv4, "ipv6": ipv6}
        if ipv4:
            iface["ip"] = ipv4[0]
        routable6 = [a for a in ipv6 if _off_link_v6(a)]
        if routable6 or ipv6:
            iface["ip6"] = (routable6 or ipv6)[0]
        if mac and mac != "00:00:00:00:00:00":
            iface["mac"] = mac
        out[name] = iface
    return out


def _primary(interfaces: Mapping[str, Mapping[str, Any]], route_iface: str | None
             ) -> str | None:
    if route_iface in interfaces:
        return route_iface
    for name, iface in interfaces.items():
        if any(not ipaddress.IPv4Address(a).is_loopback for a in iface["ipv4"]):
            return name
    return None


def addresses_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``networking`` interfaces, addresses and primary interface, and the flat
    ``ipaddress``, ``ipaddress6``, ``macaddress``.

    ``networking.ipv4``/``ipv6`` list every address of the machine except loopback and
    IPv6 link-local ones (which mean nothing off the link), the primary interface's
    first. The primary interface is the one of the default route, else the first with a
    non-loopback IPv4 address.
    """
    interfaces = interfaces_from(psutil.net_if_addrs())
    primary = _primary(interfaces, default_route_interface(ctx))
    order = ([primary] if primary else []) + [n for n in interfaces if n != primary]
    ipv4 = [a for n in order for a in interfaces[n]["ipv4"]
            if not ipaddress.IPv4Address(a).is_loopback]
    ipv6 = [a for n in order for a in interfaces[n]["ipv6"] if _off_link_v6(a)]
    networking: dict[str, Any] = {"interfaces": interfaces, "ipv4": ipv4, "ipv6": ipv6}
    flat: dict[str, Any] = {}
    if primary:
        networking["primary"] = primary
        chosen = interfaces[primary]
        if "ip" in chosen:
            networking["ip"] = flat["ipaddress"] = chosen["ip"]
        if "ip6" in chosen and _off_link_v6(chosen["ip6"]):
            networking["ip6"] = flat["ipaddress6"] = chosen["ip6"]
        if "mac" in chosen:
            networking["mac"] = flat["macaddress"] = chosen["mac"]
    if "ipaddress" not in flat and ipv4:
        networking["ip"] = flat["ipaddress"] = ipv4[0]
    if "ipaddress6" not in flat and ipv6:
        networking["ip6"] = flat["ipaddress6"] = ipv6[0]
    return {"networking": networking, **flat}
