"""The probes, each a small function returning some facts, and which of them run once
(static) and which on every refresh (dynamic)."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import psutil

from mcollective_facts_system.context import Probe, ProbeContext
from mcollective_facts_system.network import addresses_probe, names_probe
from mcollective_facts_system.osinfo import os_probe

MIB = 1024 * 1024

#: Facter's ``architecture`` on Debian-family systems uses Debian's port names.
DEBIAN_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "i386",
                        "i586": "i386", "i486": "i386", "armv7l": "armhf",
                        "ppc64le": "ppc64el"}


def kernel_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``kernel`` (Linux), ``kernelrelease`` (6.1.0-18-amd64), ``kernelversion``
    (6.1.0), ``kernelmajversion`` (6.1)."""
    uname = platform.uname()
    facts: dict[str, Any] = {"kernel": uname.system}
    if uname.release:
        version = uname.release.split("-", 1)[0]
        facts.update(kernelrelease=uname.release, kernelversion=version,
                     kernelmajversion=".".join(version.split(".")[:2]))
    return facts


def architecture_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``hardwaremodel`` is the machine type (x86_64); ``architecture`` is the same
    except on Debian-family systems, which call x86_64 amd64."""
    machine = platform.machine()
    if not machine:
        raise ValueError("the platform reports no machine type")
    arch = machine
    if ctx.fact("os.family") == "Debian":
        arch = DEBIAN_ARCHITECTURES.get(machine, machine)
    return {"architecture": arch, "hardwaremodel": machine,
            "os": {"architecture": arch, "hardware": machine}}


def _cpu_models(ctx: ProbeContext) -> list[str]:
    try:
        text = ctx.path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("model name") and ":" in line]


def processors_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``processors`` {count (logical), cores (physical), models, isa} and the flat
    ``processorcount``."""
    count = psutil.cpu_count(logical=True) or os.cpu_count()
    if not count:
        raise ValueError("the number of processors is unknown")
    processors: dict[str, Any] = {"count": count}
    cores = psutil.cpu_count(logical=False)
    if cores:
        processors["cores"] = cores
    models = _cpu_models(ctx)
    if models:
        processors["models"] = models
    isa = platform.processor() or platform.machine()
    if isa:
        processors["isa"] = isa
    return {"processors": processors, "processorcount": count}


def python_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``python`` {version, implementation} of the interpreter running the daemon."""
    return {"python": {"version": platform.python_version(),
                       "implementation": platform.python_implementation()}}


def timezone_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``timezone``: the abbreviation of the local time zone (UTC, CET)."""
    return {"timezone": time.strftime("%Z")}


def memory_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``memory.system`` in bytes, and the flat ``memorysize_mb``/``memoryfree_mb``."""
    vm = psutil.virtual_memory()
    return {
        "memory": {"system": {"total_bytes": vm.total, "available_bytes": vm.available,
                              "used_bytes": vm.total - vm.available}},
        "memorysize_mb": round(vm.total / MIB, 2),
        "memoryfree_mb": round(vm.available / MIB, 2),
    }


def swap_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``memory.swap`` in bytes (zeros when there is no swap)."""
    swap = psutil.swap_memory()
    return {"memory": {"swap": {"total_bytes": swap.total, "available_bytes": swap.free,
                                "used_bytes": swap.used}}}


def _uptime_seconds(ctx: ProbeContext) -> float:
    # Time since boot from the kernel's boot clock: unlike now - boot_time, it does not
    # jump when the wall clock is set.
    try:
        return float(ctx.path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return time.clock_gettime(boottime)
    return max(0.0, time.time() - psutil.boot_time())


def describe_uptime(seconds: int) -> str:
    """Facter's ``uptime`` text: ``3 days``, ``1 day``, ``5:07 hours``, ``12 minutes``."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} day" if days == 1 else f"{days} days"
    if hours:
        return f"{hours}:{minutes:02d} hours"
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def uptime_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``system_uptime`` {seconds, hours, days, uptime} and the flat ``uptime``,
    ``uptime_seconds``, ``uptime_hours``, ``uptime_days``."""
    seconds = int(_uptime_seconds(ctx))
    uptime = {"seconds": seconds, "hours": seconds // 3600, "days": seconds // 86400,
              "uptime": describe_uptime(seconds)}
    return {"system_uptime": uptime, "uptime": uptime["uptime"], "uptime_seconds": seconds,
            "uptime_hours": uptime["hours"], "uptime_days": uptime["days"]}


def load_probe(ctx: ProbeContext) -> dict[str, Any]:
    """``load_averages`` {1m, 5m, 15m}, where the platform has them."""
    if not hasattr(os, "getloadavg"):
        return {}
    one, five, fifteen = os.getloadavg()
    return {"load_averages": {"1m": round(one, 2), "5m": round(five, 2),
                              "15m": round(fifteen, 2)}}


#: Run once, and again after ``reload()``: what only changes with an upgrade, new
#: hardware or a renamed host. Order matters: ``architecture`` looks at ``os.family``.
STATIC_PROBES: tuple[tuple[str, Probe], ...] = (
    ("os", os_probe),
    ("kernel", kernel_probe),
    ("architecture", architecture_probe),
    ("processors", processors_probe),
    ("python", python_probe),
    ("names", names_probe),
)

#: Run on every refresh (every ``fact_cache_time`` seconds).
DYNAMIC_PROBES: tuple[tuple[str, Probe], ...] = (
    ("memory", memory_probe),
    ("swap", swap_probe),
    ("addresses", addresses_probe),
    ("uptime", uptime_probe),
    ("load", load_probe),
    ("timezone", timezone_probe),  # CET becomes CEST without a reboot
)
