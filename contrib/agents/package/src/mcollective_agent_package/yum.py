"""Red Hat and derivatives: rpm for what is installed, yum or dnf (whichever the node
has; their command lines are the same) to change it and to see what is available."""

from __future__ import annotations

import os
import re

from mcollective.errors import RPCAborted

from .base import ABSENT, PackageStatus, Provider, Runner, UpdateCheck, digest
from .versions import rpm_ensure

_QUERY_FORMAT = "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n"
#: check-update's exit code when updates are available (0: none, 1: error).
UPDATES_AVAILABLE = 100
#: Where the list of packages ends in check-update output (obsoletes follow).
_SECTION_END = re.compile(r"^Obsoleting", re.I)


class YumProvider(Provider):
    family = "yum"
    file_suffix = ".rpm"

    def __init__(self, binary: str) -> None:
        self.binary = binary
        #: ``yum`` or ``dnf``: replies say which one did the work.
        self.name = os.path.basename(binary)

    # --- queries ------------------------------------------------------------------------

    def status(self, run: Runner, package: str) -> PackageStatus:
        result = run.read(["rpm", "-q", "--qf", _QUERY_FORMAT, "--", package])
        rows = [line.split("\t") for line in result.stdout.splitlines()]
        rows = [row for row in rows if len(row) == 5]
        if result.exitcode != 0 or not rows:
            return PackageStatus(name=package, ensure=ABSENT, provider=self.name)
        name, epoch, version, release, arch = rows[-1]
        return PackageStatus(name=name, ensure=rpm_ensure(epoch, version, release),
                             provider=self.name, version=version, release=release,
                             epoch=epoch, arch=arch)

    def file_package(self, run: Runner, path: str) -> tuple[str, str]:
        result = run.read(["rpm", "-qp", "--qf", _QUERY_FORMAT, "--", path])
        rows = [line.split("\t") for line in result.stdout.splitlines()]
        if result.exitcode != 0 or not rows or len(rows[0]) != 5:
            raise RPCAborted(f"{path} is not a readable .rpm file: {result.stderr.strip()}")
        name, epoch, version, release, _ = rows[0]
        return name, rpm_ensure(epoch, version, release)

    def count(self, run: Runner) -> tuple[int, int]:
        result = run.read(["rpm", "-qa", "--qf", "%{NAME}\\n"])
        return len([line for line in result.stdout.splitlines() if line]), result.exitcode

    def md5(self, run: Runner) -> tuple[str, int]:
        fmt = "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH}\\n"
        result = run.read(["rpm", "-qa", "--qf", fmt])
        return digest(line for line in result.stdout.splitlines() if line), \
            result.exitcode

    def search(self, run: Runner, pattern: str) -> list[dict[str, str]]:
        result = run.read([self.binary, "-q", "list", "available", "--", pattern])
        if result.exitcode not in (0, 1):
            raise RPCAborted(f"{self.name} list failed: {result.stderr.strip()}")
        return [{"name": name, "version": version, "arch": arch, "repo": repo}
                for name, arch, version, repo in parse_package_lines(result.stdout)]

    def checkupdates(self, run: Runner) -> UpdateCheck:
        result = run.read([self.binary, "-q", "check-update"])
        outdated = [{"package": f"{name}.{arch}", "version": version, "repo": repo}
                    for name, arch, version, repo in parse_package_lines(result.stdout)]
        return UpdateCheck(output=result.stdout, exitcode=result.exitcode,
                           outdated_packages=outdated,
                           failed=result.exitcode not in (0, UPDATES_AVAILABLE))

    def clean_command(self, mode: str) -> list[str]:
        return [self.binary, "clean", mode]

    # --- changes ------------------------------------------------------------------------

    def install_command(self, package: str, version: str | None) -> list[str]:
        target = f"{package}-{version}" if version else package
        return [self.binary, "-y", "-q", "install", "--", target]

    def uninstall_command(self, package: str) -> list[str]:
        return [self.binary, "-y", "-q", "remove", "--", package]

    def purge_command(self, package: str) -> list[str]:
        # rpm keeps no configuration of removed packages (it saves .rpmsave copies):
        # purging is removing.
        return self.uninstall_command(package)

    def update_command(self, package: str) -> list[str]:
        return [self.binary, "-y", "-q", "update", "--", package]

    def refresh_command(self) -> list[str]:
        return [self.binary, "-q", "makecache"]

    def is_purged(self, status: PackageStatus) -> bool:
        return not status.installed


def parse_package_lines(output: str) -> list[tuple[str, str, str, str]]:
    """``name.arch  version  repo`` lines of ``list``/``check-update`` output as
    ``(name, arch, version, repo)``. A name too long for its column is printed on a
    line of its own, followed by the version and repo: those are joined. Headers,
    notices and the obsoletes section are skipped."""
    rows = []
    pending: list[str] = []
    for line in output.splitlines():
        if _SECTION_END.match(line):
            break
        words = pending + line.split()
        pending = []
        if len(words) < 3 and words and "." in words[0] and not line.startswith(" "):
            pending = words
            continue
        if len(words) != 3 or "." not in words[0]:
            continue
        name, _, arch = words[0].rpartition(".")
        rows.append((name, arch, words[1], words[2]))
    return rows
