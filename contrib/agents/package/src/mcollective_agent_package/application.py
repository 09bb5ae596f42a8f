"""``mco package``: install, remove, update and query a package on every matching node,
with one line per node and a summary of the versions found (the ``package``
application of MCollective's package agent)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mcollective.cli.agentapp import AgentApplication, complete_from, split_action
from mcollective.errors import MCollectiveError

#: Actions on one named package.
PACKAGE_ACTIONS = ("install", "uninstall", "purge", "update", "status", "search")
#: Actions on the node's package system as a whole.
GLOBAL_ACTIONS = ("count", "md5", "refresh", "checkupdates", "apt_checkupdates",
                  "apt_update", "yum_checkupdates", "yum_clean")
_UPDATES = ("checkupdates", "apt_checkupdates", "apt_update", "yum_checkupdates")
_USAGE = "mco package [OPTIONS] [FILTERS] <ACTION> <PACKAGE>  (or <PACKAGE> <ACTION>)"


def describe(data: dict[str, Any]) -> str:
    """A package as MCollective's application shows it: ``name-version.arch``, or the
    state (``absent``, ``purged``) when it is not installed."""
    ensure = str(data.get("ensure") or "")
    if ensure in ("absent", "purged", ""):
        return ensure or "unknown"
    text = f"{data.get('name')}-{ensure}"
    return f"{text}.{data['arch']}" if data.get("arch") else text


class PackageApp(AgentApplication):
    name = "package"
    description = "Install, uninstall, update, purge and query packages"
    usage = _USAGE
    epilog = """actions on a package:
    install       install PACKAGE (--version for a given version)
    uninstall     uninstall PACKAGE
    purge         uninstall PACKAGE and its configuration files
    update        update PACKAGE to the newest version
    status        whether PACKAGE is installed, and its version
    search        whether PACKAGE is available to the node
actions on the node's package system:
    count, md5, refresh, checkupdates, apt_checkupdates, apt_update,
    yum_checkupdates, yum_clean

Both word orders work: `mco package status bash` and `mco package bash status`.
Actions other than status, search, count, md5 and *checkupdates change nodes: without a
filter they ask first, unless -y/--yes is given.
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        words = parser.add_argument("words", nargs="+", metavar="ACTION PACKAGE")
        words.completer = complete_from((*PACKAGE_ACTIONS, *GLOBAL_ACTIONS))  # type: ignore[attr-defined]
        parser.add_argument("--version", dest="package_version", metavar="VERSION",
                            help="the version to install")
        parser.add_argument("-y", "--yes", action="store_true",
                            help="do not ask before changing unfiltered nodes")

    def main(self, args: argparse.Namespace) -> int:
        action, rest = split_action(args.words, (*PACKAGE_ACTIONS, *GLOBAL_ACTIONS),
                                    usage=_USAGE)
        inputs: dict[str, Any] = {}
        if action in GLOBAL_ACTIONS:
            if rest:
                raise MCollectiveError(f"'{action}' takes no package name; usage: {_USAGE}")
        elif len(rest) != 1:
            raise MCollectiveError(f"'{action}' needs one package name; usage: {_USAGE}")
        else:
            inputs["package"] = rest[0]
        if args.package_version is not None:
            if action != "install":
                raise MCollectiveError("--version only applies to install")
            inputs["version"] = args.package_version
        changes = action in ("install", "uninstall", "purge", "update", "refresh",
                             "apt_update", "yum_clean")
        self.action = action
        return self.call("package", action, inputs, caption=f"{action} Package results",
                         confirm=f"{action} packages" if changes else None,
                         assume_yes=args.yes)

    def print_results(self, results: Sequence[Any], action_ddl: Any) -> None:
        action = self.action
        if action in ("count", "md5"):
            self.print_node_lines(results, lambda r: r.data.get("output"))
        elif action in _UPDATES:
            self.print_node_lines(results, lambda r: _outdated(r.data, self.args.verbose))
        elif action == "search":
            self.print_node_lines(results, lambda r: _found(r.data))
        elif action in PACKAGE_ACTIONS:
            self.print_node_lines(results, lambda r: describe(r.data))
        else:
            super().print_results(results, action_ddl)


def _outdated(data: dict[str, Any], verbose: bool) -> str:
    packages = data.get("outdated_packages") or []
    if not packages:
        return "up to date"
    return " ".join(f"{p.get('package')}-{p.get('version')}" if verbose
                    else str(p.get("package")) for p in packages)


def _found(data: dict[str, Any]) -> str:
    count = data.get("package_count") or 0
    names = sorted({str(p.get("name")) for p in data.get("available_packages") or []
                    if isinstance(p, dict) and p.get("name")})
    return f"{count} found" + (f": {', '.join(names[:10])}" if names else "")
