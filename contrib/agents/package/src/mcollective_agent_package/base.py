"""What every package manager backend provides, and how the node's one is chosen.

A provider builds commands and parses their output; it runs nothing itself but goes
through a :class:`Runner` the agent hands it per request, so that every command is
bounded by that request's deadline.
"""

from __future__ import annotations

import hashlib
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from mcollective.agent import RunResult

#: ``ensure`` values of a package that is not installed.
ABSENT, PURGED = "absent", "purged"


class Runner(Protocol):
    """Runs commands for a provider: ``read`` for queries (killed at the deadline),
    ``change`` for commands that modify the system (never killed half-way)."""

    def read(self, argv: list[str]) -> RunResult: ...

    def change(self, argv: list[str], env: dict[str, str]) -> RunResult: ...


@dataclass(frozen=True)
class PackageStatus:
    """The reply fields of status, install, uninstall, purge and update."""

    name: str
    ensure: str
    provider: str
    version: str | None = None
    release: str | None = None
    epoch: str | None = None
    arch: str | None = None

    @property
    def installed(self) -> bool:
        return self.ensure not in (ABSENT, PURGED)

    def reply_data(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UpdateCheck:
    """The result of a check for upgradable packages."""

    output: str
    exitcode: int
    outdated_packages: list[dict[str, str]] = field(default_factory=list)
    failed: bool = False


class Provider(ABC):
    """A package manager backend."""

    #: What replies call this provider (``apt``, ``yum``, ``dnf``).
    name: str
    #: The family for the ``apt_*``/``yum_*`` actions: ``apt`` or ``yum``.
    family: str
    #: Suffix of a local package file that ``install`` accepts instead of a name.
    file_suffix: str

    @abstractmethod
    def status(self, run: Runner, package: str) -> PackageStatus: ...

    @abstractmethod
    def file_package(self, run: Runner, path: str) -> tuple[str, str]:
        """``(name, full version)`` of a local package file."""

    @abstractmethod
    def install_command(self, package: str, version: str | None) -> list[str]: ...

    @abstractmethod
    def uninstall_command(self, package: str) -> list[str]: ...

    @abstractmethod
    def purge_command(self, package: str) -> list[str]: ...

    @abstractmethod
    def update_command(self, package: str) -> list[str]: ...

    @abstractmethod
    def refresh_command(self) -> list[str]: ...

    @abstractmethod
    def is_purged(self, status: PackageStatus) -> bool:
        """Whether nothing of the package is left for ``purge`` to remove."""

    @abstractmethod
    def count(self, run: Runner) -> tuple[int, int]:
        """``(installed packages, exit code)``."""

    @abstractmethod
    def md5(self, run: Runner) -> tuple[str, int]:
        """``(digest of the sorted installed package list, exit code)``."""

    @abstractmethod
    def search(self, run: Runner, pattern: str) -> list[dict[str, str]]: ...

    @abstractmethod
    def checkupdates(self, run: Runner) -> UpdateCheck: ...

    def change_env(self) -> dict[str, str]:
        """Extra environment for commands that change the system."""
        return {}


def digest(lines: Iterable[str]) -> str:
    """MD5 of sorted lines joined by newlines: equal package sets give equal digests
    whatever order the package database lists them in."""
    return hashlib.md5("\n".join(sorted(lines)).encode(), usedforsecurity=False).hexdigest()


def glob_to_regex(pattern: str) -> str:
    """A package glob (``python3-*``, ``lib?z*``) as an anchored POSIX regular
    expression, every other character taken literally (``g++`` stays ``g\\+\\+``)."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char.isalnum():
            out.append(char)
        else:
            out.append("\\" + char)
    return "^" + "".join(out) + "$"


def detect_provider(preference: str = "auto") -> Provider | None:
    """The node's package manager: apt when ``apt-get`` and ``dpkg-query`` exist, else
    yum/dnf when ``rpm`` and ``dnf`` or ``yum`` exist; ``preference`` (``apt`` or
    ``yum``) only considers that family."""
    from .apt import AptProvider
    from .yum import YumProvider

    if preference in ("auto", "apt") and shutil.which("apt-get") and \
            shutil.which("dpkg-query"):
        return AptProvider()
    if preference in ("auto", "yum") and shutil.which("rpm"):
        binary = shutil.which("dnf") or shutil.which("yum")
        if binary:
            return YumProvider(binary)
    return None
