"""Talking to systemd through ``systemctl``: whether it runs, and what a unit's state
means in the agent's words (``running``/``stopped``, as Choria's agent answers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: systemd creates this directory early at boot; its absence means systemd is not the
#: init system (a container, a chroot, another init), whatever binaries are installed.
RUNTIME_DIR = Path("/run/systemd/system")

#: The ``ActiveState`` values that count as running. ``activating`` does not: a
#: service still starting (or crash-looping in ``auto-restart``) is not serving yet.
RUNNING_STATES = frozenset({"active", "reloading"})


def systemd_running(runtime_dir: Path = RUNTIME_DIR) -> bool:
    """Whether systemd is the running init system (``sd_booted()``'s test)."""
    return runtime_dir.is_dir()


@dataclass(frozen=True)
class UnitState:
    """The properties of ``systemctl show`` that the agent needs."""

    load_state: str
    active_state: str
    sub_state: str

    @property
    def exists(self) -> bool:
        return self.load_state not in ("not-found", "")

    @property
    def status(self) -> str:
        """``running`` or ``stopped``."""
        return "running" if self.active_state in RUNNING_STATES else "stopped"


SHOW_PROPERTIES = ("LoadState", "ActiveState", "SubState")


def show_command(service: str) -> list[str]:
    return ["systemctl", "show", f"--property={','.join(SHOW_PROPERTIES)}", "--", service]


def control_command(verb: str, service: str) -> list[str]:
    """``systemctl start|stop|restart -- <service>``: ``--`` so that no name can be
    taken for an option."""
    return ["systemctl", verb, "--", service]


def parse_show(output: str) -> UnitState:
    """Parse ``Key=value`` lines of ``systemctl show``."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return UnitState(values.get("LoadState", ""), values.get("ActiveState", ""),
                     values.get("SubState", ""))
