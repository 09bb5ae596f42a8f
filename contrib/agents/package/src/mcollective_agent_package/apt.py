"""Debian and derivatives: dpkg-query for what is installed, apt-get to change it,
apt-cache for what is available. Every query reads local databases only; the network
is used by ``refresh`` (``apt-get update``) and by installs that download."""

from __future__ import annotations

import re

from mcollective.errors import RPCAborted

from .base import (
    ABSENT,
    PURGED,
    PackageStatus,
    Provider,
    Runner,
    UpdateCheck,
    digest,
    glob_to_regex,
)
from .versions import split_deb_version

#: Options for every apt-get that changes the system: no questions, keep changed
#: configuration files, wait for another apt to finish instead of failing at once.
APT_OPTIONS = ["-y", "-q", "-o", "Dpkg::Use-Pty=0", "-o", "DPkg::Lock::Timeout=60",
               "-o", "Dpkg::Options::=--force-confdef",
               "-o", "Dpkg::Options::=--force-confold"]

_QUERY_FORMAT = "${binary:Package}\\t${Version}\\t${Architecture}\\t${db:Status-Status}\\n"
#: dpkg states in which a package is not on the system (config files may remain).
_NOT_INSTALLED = {"not-installed": PURGED, "config-files": ABSENT}
# Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
_INST = re.compile(r"^Inst (\S+) \[(\S+)\] \((\S+) (.+?) \[(\S+)\]\)")


class AptProvider(Provider):
    name = "apt"
    family = "apt"
    file_suffix = ".deb"

    # --- queries ------------------------------------------------------------------------

    def status(self, run: Runner, package: str) -> PackageStatus:
        result = run.read(["dpkg-query", "-W", f"-f={_QUERY_FORMAT}", "--", package])
        rows = [line.split("\t") for line in result.stdout.splitlines()]
        rows = [row for row in rows if len(row) == 4]
        if result.exitcode not in (0, 1):
            raise RPCAborted(f"dpkg-query failed (exit code {result.exitcode}): "
                             f"{result.stderr.strip()}")
        installed = [row for row in rows if row[3] not in _NOT_INSTALLED]
        if not installed:
            state = PURGED
            if any(row[3] == "config-files" for row in rows):
                state = ABSENT
            return PackageStatus(name=package, ensure=state, provider=self.name)
        _, full, arch, _ = installed[0]
        epoch, upstream, revision = split_deb_version(full)
        return PackageStatus(name=package, ensure=full, provider=self.name,
                             version=upstream, release=revision, epoch=epoch, arch=arch)

    def file_package(self, run: Runner, path: str) -> tuple[str, str]:
        result = run.read(["dpkg-deb", "--field", path, "Package", "Version"])
        fields = dict(line.split(": ", 1) for line in result.stdout.splitlines()
                      if ": " in line)
        if result.exitcode != 0 or "Package" not in fields:
            raise RPCAborted(f"{path} is not a readable .deb file: {result.stderr.strip()}")
        return fields["Package"], fields.get("Version", "")

    def count(self, run: Runner) -> tuple[int, int]:
        result = run.read(["dpkg-query", "-W", "-f=${db:Status-Status}\\n"])
        return sum(line == "installed" for line in result.stdout.splitlines()), \
            result.exitcode

    def md5(self, run: Runner) -> tuple[str, int]:
        fmt = "${db:Status-Status} ${binary:Package} ${Version} ${Architecture}\\n"
        result = run.read(["dpkg-query", "-W", f"-f={fmt}"])
        lines = [line.split(" ", 1)[1] for line in result.stdout.splitlines()
                 if line.startswith("installed ")]
        return digest(lines), result.exitcode

    def search(self, run: Runner, pattern: str) -> list[dict[str, str]]:
        found = run.read(["apt-cache", "--names-only", "search", "--",
                          glob_to_regex(pattern)])
        if found.exitcode != 0:
            raise RPCAborted(f"apt-cache search failed: {found.stderr.strip()}")
        names = sorted({line.split(" - ", 1)[0] for line in found.stdout.splitlines()
                        if " - " in line})
        available: list[dict[str, str]] = []
        for start in range(0, len(names), 200):
            chunk = run.read(["apt-cache", "madison", "--", *names[start:start + 200]])
            available.extend(parse_madison(chunk.stdout))
        return available

    def checkupdates(self, run: Runner) -> UpdateCheck:
        result = run.read(["apt-get", "--simulate", "-q", "dist-upgrade"])
        return UpdateCheck(output=result.stdout, exitcode=result.exitcode,
                           outdated_packages=parse_simulation(result.stdout),
                           failed=result.exitcode != 0)

    # --- changes ------------------------------------------------------------------------

    def install_command(self, package: str, version: str | None) -> list[str]:
        target = f"{package}={version}" if version else package
        extra = ["--allow-downgrades"] if version or package.endswith(".deb") else []
        return ["apt-get", "install", *APT_OPTIONS, *extra, "--", target]

    def uninstall_command(self, package: str) -> list[str]:
        return ["apt-get", "remove", *APT_OPTIONS, "--", package]

    def purge_command(self, package: str) -> list[str]:
        return ["apt-get", "purge", *APT_OPTIONS, "--", package]

    def update_command(self, package: str) -> list[str]:
        return ["apt-get", "install", "--only-upgrade", *APT_OPTIONS, "--", package]

    def refresh_command(self) -> list[str]:
        return ["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=60"]

    def is_purged(self, status: PackageStatus) -> bool:
        return status.ensure == PURGED

    def change_env(self) -> dict[str, str]:
        return {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}


def parse_madison(output: str) -> list[dict[str, str]]:
    """``apt-cache madison`` lines (``name | version | source``) as available package
    entries; source-package lines are skipped."""
    entries = []
    for line in output.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3:
            continue
        name, version, source = parts
        words = source.split()
        if not words or words[-1] != "Packages":
            continue
        arch = words[-2] if len(words) >= 3 else ""
        entries.append({"name": name, "version": version, "arch": arch,
                        "repo": " ".join(words[:-2])})
    return entries


def parse_simulation(output: str) -> list[dict[str, str]]:
    """Upgrades in ``apt-get --simulate`` output (``Inst`` lines of installed
    packages): package, new version and the archives it comes from."""
    outdated = []
    for line in output.splitlines():
        match = _INST.match(line)
        if match:
            outdated.append({"package": match.group(1), "version": match.group(3),
                             "repo": match.group(4)})
    return outdated
