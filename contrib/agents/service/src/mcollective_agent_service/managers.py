"""The service managers the agent can drive, and the choice among them.

systemd where it is the running init system; otherwise OpenRC (Alpine, Gentoo) where
it runs; otherwise SysV init scripts, run as ``service(8)`` runs them on a system without
systemd: ``/etc/init.d/NAME start|stop|restart|status`` with a clean environment. A
node with none of them gets a message saying which was looked for and where.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mcollective.agent import RunResult
from mcollective.errors import RPCAborted

from .systemd import RUNTIME_DIR, control_command, parse_show, show_command, systemd_running

#: OpenRC creates this directory at boot (``rc_booted``'s test).
OPENRC_DIR = Path("/run/openrc")
#: Where SysV init scripts live.
INIT_DIR = Path("/etc/init.d")
#: The environment ``service(8)`` gives init scripts: none of the daemon's own.
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C", "TERM": "dumb"}

#: Runs an argv for the agent (bounded by the request's time) and returns its result.
Run = Callable[..., RunResult]


class Manager(Protocol):
    """One service manager: how to read a service's state and change it."""

    name: str

    def status(self, service: str, run: Run) -> str:
        """``running`` or ``stopped``; raises :class:`RPCAborted` for an unknown
        service or an answer that cannot be read."""

    def control(self, verb: str, service: str) -> tuple[list[str], dict[str, str] | None]:
        """The argv (and environment, ``None`` for the daemon's) for ``verb``."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def failure(result: RunResult) -> str:
    """What a failed manager command said: its last line of output, or its exit code."""
    return _last_line(result.stderr) or _last_line(result.stdout) or \
        f"exit code {result.exitcode}"


class Systemd:
    name = "systemd"

    def status(self, service: str, run: Run) -> str:
        result = run(show_command(service))
        if result.exitcode != 0:
            raise RPCAborted(f"Could not query '{service}': {failure(result)}")
        state = parse_show(result.stdout)
        if not state.exists:
            raise RPCAborted(f"Could not find service '{service}': systemd has no such unit")
        return state.status

    def control(self, verb: str, service: str) -> tuple[list[str], dict[str, str] | None]:
        return control_command(verb, service), None


class OpenRC:
    name = "openrc"

    def __init__(self, rc_service: str) -> None:
        self.rc_service = rc_service

    def status(self, service: str, run: Run) -> str:
        if run([self.rc_service, "--exists", service]).exitcode != 0:
            raise RPCAborted(f"Could not find service '{service}': OpenRC has no such "
                             f"service")
        # rc-service answers 0 for started, non-zero for stopped, crashed or inactive.
        result = run([self.rc_service, service, "status"])
        return "running" if result.exitcode == 0 else "stopped"

    def control(self, verb: str, service: str) -> tuple[list[str], dict[str, str] | None]:
        return [self.rc_service, service, verb], None


@dataclass
class SysV:
    """LSB init scripts: ``status`` answers 0 when running, 1-3 when not, 4 when it
    cannot tell."""

    init_dir: Path = INIT_DIR
    name: str = field(default="sysv", init=False)

    def script(self, service: str) -> Path:
        path = self.init_dir / service
        if not path.is_file() or not os.access(path, os.X_OK):
            raise RPCAborted(f"Could not find service '{service}': no executable init "
                             f"script {path}")
        return path

    def status(self, service: str, run: Run) -> str:
        result = run([str(self.script(service)), "status"], env=CLEAN_ENV)
        if result.exitcode == 0:
            return "running"
        if result.exitcode in (1, 2, 3):
            return "stopped"
        raise RPCAborted(f"Could not tell whether '{service}' is running: its init script "
                         f"answered status {result.exitcode} ({failure(result)})")

    def control(self, verb: str, service: str) -> tuple[list[str], dict[str, str] | None]:
        return [str(self.script(service)), verb], CLEAN_ENV


PROVIDERS = ("auto", "systemd", "openrc", "sysv")


def choose(provider: str, init_dir: Path = INIT_DIR, *, runtime_dir: Path = RUNTIME_DIR,
           openrc_dir: Path = OPENRC_DIR) -> Manager:
    """The manager named by ``plugin.service.provider``, or for ``auto`` the first of
    systemd, OpenRC and SysV that this node runs. Raises :class:`RPCAborted` saying
    exactly what is missing."""
    why_not: list[str] = []
    if provider in ("auto", "systemd"):
        if not systemd_running(runtime_dir):
            why_not.append(f"systemd is not running on this node ({runtime_dir} is "
                           f"missing)")
        elif shutil.which("systemctl") is None:
            why_not.append("systemctl is not installed on this node")
        else:
            return Systemd()
    if provider in ("auto", "openrc"):
        rc_service = shutil.which("rc-service")
        if not openrc_dir.is_dir():
            why_not.append(f"OpenRC is not running ({openrc_dir} is missing)")
        elif rc_service is None:
            why_not.append("rc-service is not installed")
        else:
            return OpenRC(rc_service)
    if provider in ("auto", "sysv"):
        if init_dir.is_dir():
            return SysV(init_dir)
        why_not.append(f"there are no SysV init scripts ({init_dir} is missing)")
    chosen = "" if provider == "auto" else f" (plugin.service.provider = {provider})"
    raise RPCAborted(f"cannot manage services on this node{chosen}: " + "; ".join(why_not))
