"""Which operating system this is: ``/etc/os-release`` where there is one (Linux, the
BSDs), ``platform`` elsewhere.

Names and families follow Facter, because fact filters written for Puppet-managed
fleets (``-F osfamily=RedHat``, ``-F os.name=Ubuntu``) should keep working.
"""

from __future__ import annotations

import platform
import shlex
from typing import Any

from mcollective_facts_system.context import ProbeContext

OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")

#: os-release ``ID`` (or an ``ID_LIKE`` entry) to Facter's ``os.family``.
FAMILIES = {
    "debian": "Debian", "ubuntu": "Debian", "raspbian": "Debian", "linuxmint": "Debian",
    "rhel": "RedHat", "fedora": "RedHat", "centos": "RedHat", "rocky": "RedHat",
    "almalinux": "RedHat", "ol": "RedHat", "amzn": "RedHat", "scientific": "RedHat",
    "sles": "Suse", "suse": "Suse", "opensuse": "Suse", "opensuse-leap": "Suse",
    "opensuse-tumbleweed": "Suse",
    "arch": "Archlinux", "gentoo": "Gentoo",
}

#: os-release ``ID`` to Facter's ``os.name``; other IDs are capitalised.
NAMES = {
    "debian": "Debian", "ubuntu": "Ubuntu", "raspbian": "Raspbian",
    "linuxmint": "LinuxMint", "rhel": "RedHat", "centos": "CentOS", "fedora": "Fedora",
    "rocky": "Rocky", "almalinux": "AlmaLinux", "ol": "OracleLinux", "amzn": "Amazon",
    "scientific": "Scientific", "sles": "SLES", "opensuse": "OpenSuSE",
    "opensuse-leap": "OpenSuSE", "opensuse-tumbleweed": "OpenSuSE", "arch": "Archlinux",
    "gentoo": "Gentoo", "alpine": "Alpine", "freebsd": "FreeBSD",
}


def parse_os_release(text: str) -> dict[str, str]:
    """The variables of an os-release file (shell-style ``KEY="value"`` lines)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value)
        except ValueError:  # unbalanced quotes: take the text as it is
            words = [value.strip().strip("\"'")]
        out[key.strip()] = " ".join(words)
    return out


def release_parts(full: str) -> dict[str, str]:
    """``{"full": "22.04", "major": "22", "minor": "04"}``; kept as text like Facter,
    since ``04`` is not the number 4."""
    parts = full.split(".")
    out = {"full": full, "major": parts[0]}
    if len(parts) > 1 and parts[1]:
        out["minor"] = parts[1]
    return out


def _family(os_id: str, like: list[str], kernel: str) -> str:
    for candidate in [os_id, *like]:
        if candidate in FAMILIES:
            return FAMILIES[candidate]
    return kernel  # Facter's answer for distributions it has no family for


def _read_os_release(ctx: ProbeContext) -> dict[str, str] | None:
    for name in OS_RELEASE_FILES:
        try:
            return parse_os_release(ctx.path(name).read_text(encoding="utf-8",
                                                             errors="replace"))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def _full_release(ctx: ProbeContext, os_id: str, info: dict[str, str]) -> str | None:
    if os_id == "debian":
        # /etc/debian_version has the point release (12.5) that VERSION_ID (12) lacks.
        try:
            text = ctx.path("/etc/debian_version").read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if text[:1].isdigit():
            return text
    return info.get("VERSION_ID") or None


def _from_os_release(ctx: ProbeContext, info: dict[str, str], kernel: str
                     ) -> dict[str, Any]:
    os_id = info.get("ID", kernel).lower()
    like = info.get("ID_LIKE", "").lower().split()
    name = NAMES.get(os_id) or os_id.capitalize()
    distro: dict[str, Any] = {"id": os_id}
    if info.get("VERSION_CODENAME"):
        distro["codename"] = info["VERSION_CODENAME"]
    if info.get("PRETTY_NAME"):
        distro["description"] = info["PRETTY_NAME"]
    facts: dict[str, Any] = {"name": name, "family": _family(os_id, like, kernel),
                             "distro": distro}
    full = _full_release(ctx, os_id, info)
    if full:
        facts["release"] = release_parts(full)
        distro["release"] = release_parts(full)
    return facts


def _other(system: str) -> dict[str, Any]:
    if system == "Darwin":
        release = platform.mac_ver()[0] or platform.release()
    else:
        release = platform.release()
    name = "windows" if system == "Windows" else system  # Facter's spelling
    facts: dict[str, Any] = {"name": name, "family": name}
    if release:
        facts["release"] = release_parts(release)
    return facts


def os_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``os`` (name, family, release, distro) and Facter's flat ``osfamily``,
    ``operatingsystem``, ``operatingsystemrelease``, ``operatingsystemmajrelease``."""
    system = platform.system() or "Unknown"
    info = _read_os_release(ctx)
    os_facts = _from_os_release(ctx, info, system) if info is not None else _other(system)
    flat: dict[str, Any] = {"os": os_facts, "osfamily": os_facts["family"],
                            "operatingsystem": os_facts["name"]}
    if "release" in os_facts:
        flat["operatingsystemrelease"] = os_facts["release"]["full"]
        flat["operatingsystemmajrelease"] = os_facts["release"]["major"]
    return flat
