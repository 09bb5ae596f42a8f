"""The package agent's actions, with the semantics of Choria's (Puppet-based) one:
installing an installed package, or removing, updating or purging an absent one, fails
(status 1) and reports the package's status; every change reports the status after it
and the package manager's output."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from mcollective.agent import Agent, AgentContext, AgentReply, AgentRequest, RunResult
from mcollective.config import Config, one_of
from mcollective.errors import InvalidRPCData, RPCAborted

from .base import PackageStatus, Provider, detect_provider
from .runner import RequestRunner
from .yum import YumProvider

YUM_CLEAN_MODES = ("all", "headers", "packages", "metadata", "dbcache", "plugins",
                   "expire-cache")
SETTINGS: dict[str, Callable[[Any], Any]] = {"provider": one_of("auto", "apt", "yum"),
            "yum_clean_mode": one_of(*YUM_CLEAN_MODES), "activate_agent": str}
DEFAULTS = {"provider": "auto", "yum_clean_mode": "all"}


class Package(Agent):
    """Queries and manages operating system packages."""

    agent_name = "package"

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        settings = self.config.plugin_config("package", SETTINGS, DEFAULTS)
        self.yum_clean_mode: str = settings["yum_clean_mode"]
        self.provider: Provider | None = detect_provider(settings["provider"])

    @classmethod
    def activate(cls, config: Config) -> bool:
        """Load only where apt/dpkg or yum/dnf/rpm is installed."""
        preference = config.plugin_config("package", SETTINGS, DEFAULTS)["provider"]
        return detect_provider(preference) is not None

    # --- one package -----------------------------------------------------------------

    def status(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request)
        reply.data.update(provider.status(run, _package_name(request["package"]))
                          .reply_data())

    def install(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request)
        target, version = request["package"], request.get("version")
        name, file_version = target, None
        if _is_file(target, provider):
            if version:
                raise InvalidRPCData("version cannot be given with a package file")
            if not os.path.isfile(target):
                raise InvalidRPCData(f"package file {target} does not exist")
            name, file_version = provider.file_package(run, target)
        else:
            _package_name(target)
        if version is not None and not _VERSION.match(version):
            raise InvalidRPCData(f"invalid version '{version}'")
        before = provider.status(run, name)
        reply.data.update(before.reply_data())
        if before.installed and (file_version == before.ensure
                                 or (file_version is None and not version)):
            raise RPCAborted("Package is already installed")
        self._change(provider, run, provider.install_command(target, version), name,
                     reply, "install")

    def uninstall(self, request: AgentRequest, reply: AgentReply) -> None:
        self._change_installed(request, reply, "uninstall")

    def update(self, request: AgentRequest, reply: AgentReply) -> None:
        self._change_installed(request, reply, "update")

    def purge(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request)
        name = _package_name(request["package"])
        before = provider.status(run, name)
        reply.data.update(before.reply_data())
        if provider.is_purged(before):
            raise RPCAborted("Package is not present on the system")
        self._change(provider, run, provider.purge_command(name), name, reply, "purge")

    # --- the package set -----------------------------------------------------------------

    def count(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request)
        reply["output"], reply["exitcode"] = provider.count(run)
        if reply["exitcode"] != 0:
            raise RPCAborted(f"counting packages failed, exit code {reply['exitcode']}")

    def md5(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request)
        reply["output"], reply["exitcode"] = provider.md5(run)
        if reply["exitcode"] != 0:
            raise RPCAborted(f"listing packages failed, exit code {reply['exitcode']}")

    def search(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request)
        pattern = _search_pattern(request["package"])
        available = provider.search(run, pattern)
        reply["available_packages"] = available
        reply["package_count"] = len({entry["name"] for entry in available})

    def checkupdates(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, _ = self._setup(request)
        reply["package_manager"] = provider.name
        self._checkupdates(request, reply, None)

    def apt_checkupdates(self, request: AgentRequest, reply: AgentReply) -> None:
        self._checkupdates(request, reply, "apt")

    def yum_checkupdates(self, request: AgentRequest, reply: AgentReply) -> None:
        self._checkupdates(request, reply, "yum")

    def refresh(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request)
        result = run.change(provider.refresh_command(), provider.change_env())
        reply["output"], reply["exitcode"] = _combined(result), result.exitcode
        if result.exitcode != 0:
            raise RPCAborted(f"refreshing the package lists failed: {_last(result)}")

    def apt_update(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request, family="apt")
        result = run.change(provider.refresh_command(), provider.change_env())
        reply["output"], reply["exitcode"] = _combined(result), result.exitcode
        if result.exitcode != 0:
            raise RPCAborted(f"apt-get update failed: {_last(result)}")
        self._checkupdates(request, reply, "apt")

    def yum_clean(self, request: AgentRequest, reply: AgentReply) -> None:
        provider, run = self._setup(request, family="yum")
        assert isinstance(provider, YumProvider)
        mode = request.get("mode") or self.yum_clean_mode
        result = run.change(provider.clean_command(mode), provider.change_env())
        reply["output"], reply["exitcode"] = _combined(result), result.exitcode
        if result.exitcode != 0:
            raise RPCAborted(f"{provider.name} clean {mode} failed: {_last(result)}")

    # --- helpers ------------------------------------------------------------------------

    def _setup(self, request: AgentRequest, family: str | None = None
               ) -> tuple[Provider, RequestRunner]:
        provider = self.provider
        if provider is None:
            raise RPCAborted("no supported package manager (apt/dpkg or yum/dnf/rpm) on "
                             "this node")
        if family is not None and provider.family != family:
            raise RPCAborted(f"{request.action} needs {family}, but this node's package "
                             f"manager is {provider.name}")
        return provider, RequestRunner(self, request)

    def _checkupdates(self, request: AgentRequest, reply: AgentReply,
                      family: str | None) -> None:
        provider, run = self._setup(request, family)
        check = provider.checkupdates(run)
        reply["output"] = check.output
        reply["outdated_packages"] = check.outdated_packages
        reply["exitcode"] = check.exitcode
        if check.failed:
            raise RPCAborted(f"checking for updates with {provider.name} failed, exit code "
                             f"{check.exitcode}")

    def _change_installed(self, request: AgentRequest, reply: AgentReply, verb: str
                          ) -> None:
        """uninstall or update: only for an installed package."""
        provider, run = self._setup(request)
        name = _package_name(request["package"])
        before = provider.status(run, name)
        reply.data.update(before.reply_data())
        if not before.installed:
            raise RPCAborted("Package is not present on the system")
        command: Callable[[str], list[str]] = getattr(provider, f"{verb}_command")
        self._change(provider, run, command(name), name, reply, verb)

    @staticmethod
    def _change(provider: Provider, run: RequestRunner, argv: list[str], name: str,
                reply: AgentReply, verb: str) -> PackageStatus:
        result = run.change(argv, provider.change_env())
        after = provider.status(run, name)
        reply.data.update(after.reply_data())
        reply["output"] = _combined(result)
        if result.exitcode != 0:
            raise RPCAborted(f"Could not {verb} {name}: {provider.name} exited with code "
                             f"{result.exitcode}: {_last(result)}")
        return after


#: A package is named literally. apt-get, dpkg-query, yum and dnf all expand globs and
#: patterns (``bas*``, ``~nbash``, ``?name(x)``) and read ``name=version`` or
#: ``name/release``: ``remove bas*`` would remove bash *and* base-files. Only the
#: characters of real package names are accepted, with an optional ``:arch``.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*(:[A-Za-z0-9_-]+)?\Z")
#: ``search`` takes globs: the same characters plus ``*`` and ``?``.
_PATTERN = re.compile(r"[A-Za-z0-9*?][A-Za-z0-9._+*?-]*\Z")
#: Debian and RPM version strings (epoch, ``~`` pre-releases, ``^`` snapshots).
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_^-]*\Z")


def _package_name(name: str) -> str:
    """A literal package name, so that no input becomes an option or a pattern."""
    if not _NAME.match(name):
        raise InvalidRPCData(f"invalid package name '{name}': use a plain package name, "
                             f"without globs, patterns or options")
    return name


def _search_pattern(pattern: str) -> str:
    if not _PATTERN.match(pattern):
        raise InvalidRPCData(f"invalid search pattern '{pattern}': use a package name, "
                             f"with * and ? as wildcards")
    return pattern


def _is_file(target: str, provider: Provider) -> bool:
    return os.path.isabs(target) and target.endswith(provider.file_suffix)


def _combined(result: RunResult) -> str:
    """stdout, then stderr when there is any: warnings belong in the output too."""
    return result.stdout + (result.stderr if result.stderr.strip() else "")


def _last(result: RunResult) -> str:
    lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
