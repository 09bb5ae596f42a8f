"""``mco plugin``: document installed plugins and scaffold new agents.

* ``mco plugin doc`` lists every installed plugin by kind, with the description from its
  DDL (agents) or docstring, and reports the ones that fail to load or whose DDL is
  broken, so that a bad install is visible before a request fails.
* ``mco plugin doc [KIND/]NAME [ACTION]`` renders an agent's DDL as help (``--json``: the
  Choria JSON DDL, e.g. to export a DDL generated from ``@action`` methods), or shows
  another plugin's documentation.
* ``mco plugin info [KIND/]NAME`` says where an installed plugin comes from: its kind,
  distribution and version, entry point, files, and whether it loads.
* ``mco plugin generate agent NAME [--actions a,b]`` and ``mco plugin generate data
  NAME`` write a new agent or data plugin distribution (see
  :mod:`mcollective.cli.apps.scaffold`).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text

from mcollective.cli.application import Application
from mcollective.ddl import render_help
from mcollective.errors import MCollectiveError, PluginLoadError
from mcollective.plugins import KINDS, InstalledPlugin, installed_plugins

#: Headings of ``mco plugin doc``, in MCollective's order first.
KIND_TITLES = {
    "agent": "Agents", "aggregate": "Aggregate", "connector": "Connector Plugins",
    "data": "Data Queries", "discovery": "Discovery Methods",
    "validator": "Validator Plugins", "security": "Security Plugins",
    "facts": "Facts Sources", "audit": "Audit Plugins",
    "authorization": "Authorization Plugins", "registration": "Registration Plugins",
    "application": "Applications",
}


@dataclass
class AgentDoc:
    """An agent as ``doc`` sees it: its class (or why there is none) and its DDL (or
    why it cannot be read)."""

    name: str
    plugin: str
    cls: Any = None
    ddl: Any = None
    error: str | None = None


class Plugin(Application):
    name = "plugin"
    description = "Document installed plugins and generate new agents and data plugins"
    usage = ("mco plugin doc [[KIND/]NAME [ACTION]] [--json]\n"
             "       mco plugin info [KIND/]NAME\n"
             "       mco plugin generate agent NAME [--actions a,b] [options]\n"
             "       mco plugin generate data NAME [options]")
    option_sections = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        doc = sub.add_parser("doc", help="show the documentation of plugins")
        doc.add_argument("plugin", nargs="?", metavar="[KIND/]NAME",
                         help="the plugin, e.g. package or agent/package, aggregate/summary")
        doc.add_argument("action", nargs="?", help="only this action of an agent")
        doc.add_argument("--json", action="store_true",
                         help="print an agent's DDL as Choria JSON")
        info = sub.add_parser("info", help="where an installed plugin comes from and "
                                           "whether it loads")
        info.add_argument("plugin", metavar="[KIND/]NAME",
                          help="the plugin, e.g. package or data/fstat")
        gen = sub.add_parser("generate", help="write a new plugin distribution")
        gen.add_argument("kind", choices=["agent", "data"], help="what to generate")
        gen.add_argument("plugin_name", metavar="NAME", help="the plugin's name")
        gen.add_argument("extra", nargs="*", metavar="actions=a,b",
                         help="MCollective's spelling of --actions")
        gen.add_argument("--actions", help="comma-separated action names of an agent "
                                           "(default: echo)")
        gen.add_argument("-d", "--directory", default=".",
                         help="where to create mcollective-agent-NAME or "
                              "mcollective-data-NAME (default: here)")
        gen.add_argument("--description", default="", help="what the plugin does")
        gen.add_argument("--author", default=None, help="author (default: your user name)")
        gen.add_argument("--license", default="Apache-2.0",
                         help="an SPDX licence expression (default: Apache-2.0)")
        gen.add_argument("--pluginversion", "--plugin-version", dest="pluginversion",
                         default="0.1.0", help="the distribution's version")
        gen.add_argument("--url", default="", help="the home page")
        gen.add_argument("--timeout", type=int, default=None,
                         help="seconds an action (agent, default: 10) or a query (data, "
                              "default: 2) may run")
        gen.add_argument("--ddl", choices=["python", "json"], default="python",
                         help="declare the DDL with @action in Python (default) or as a "
                              "Choria JSON file")
        gen.add_argument("--force", action="store_true", help="overwrite existing files")
        self._parser = parser

    def main(self, args: argparse.Namespace) -> int:
        if args.command == "doc":
            return self.doc(args)
        if args.command == "generate":
            return self.generate(args)
        if args.command == "info":
            return self.info(args.plugin)
        self._parser.print_help()
        return 1

    # --- generate -------------------------------------------------------------------

    def generate(self, args: argparse.Namespace) -> int:
        from mcollective.cli.apps.scaffold import AgentScaffold, generate_agent, generate_data

        if args.kind == "data":
            if args.actions or args.extra or args.ddl != "python":
                raise MCollectiveError("a data plugin has no actions: --actions, "
                                       "actions=... and --ddl are for agents")
            spec = AgentScaffold(
                name=args.plugin_name, description=args.description,
                author=args.author or _user(), license=args.license,
                version=args.pluginversion, url=args.url,
                timeout=2 if args.timeout is None else args.timeout)
            root = generate_data(spec, Path(args.directory), force=args.force)
            self.out.print(f"Created {root}", markup=False)
            self.out.print(f"  data plugin {spec.name}; install it with: pip install -e "
                           f"{root}, then: mco find -S \"{spec.name}('hello').length=5\"",
                           markup=False)
            return 0
        actions_text = args.actions
        for word in args.extra:
            key, sep, value = word.partition("=")
            if not sep or key != "actions":
                raise MCollectiveError(f"unexpected argument {word!r}: expected actions=a,b")
            actions_text = value
        actions = [a.strip() for a in (actions_text or "echo").split(",") if a.strip()]
        spec = AgentScaffold(
            name=args.plugin_name, actions=actions, description=args.description,
            author=args.author or _user(), license=args.license,
            version=args.pluginversion, url=args.url,
            timeout=10 if args.timeout is None else args.timeout, ddl=args.ddl)
        root = generate_agent(spec, Path(args.directory), force=args.force)
        self.out.print(f"Created {root}", markup=False)
        self.out.print(f"  agent {spec.name} with action(s) {', '.join(actions)}; "
                       f"install it with: pip install -e {root}", markup=False)
        return 0

    # --- info -----------------------------------------------------------------------

    def info(self, spec: str) -> int:
        """MCollective's ``plugin info`` described a plugin directory before packaging;
        plugins here are installed distributions, so this describes the installed
        plugin: every kind the name is installed as, with its distribution, entry
        point, files, and whether it loads (and its DDL, for agents and data plugins)."""
        kind, _, name = spec.rpartition("/")
        if kind and kind not in KINDS:
            raise MCollectiveError(f"unknown plugin kind '{kind}'; kinds: "
                                   f"{', '.join(sorted(KINDS))}")
        found = [p for p in installed_plugins(kind or None) if p.name == name]
        if not found:
            import difflib

            names = sorted({p.name for p in installed_plugins(kind or None)})
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise MCollectiveError(f"no plugin '{spec}' is installed{hint} "
                                   "('mco plugin doc' lists them)")
        broken = 0
        for plugin in found:
            broken += self.info_one(plugin)
        return 1 if broken else 0

    def info_one(self, plugin: InstalledPlugin) -> int:
        rows: list[tuple[str, str]] = [
            ("Kind", KIND_TITLES.get(plugin.kind, plugin.kind)),
            ("Distribution", f"{plugin.distribution} {plugin.version}"),
            ("Entry point", f"{KINDS[plugin.kind].group}: {plugin.name} = {plugin.target}"),
        ]
        location = _location(plugin.distribution)
        if location:
            rows.append(("Installed in", location))
        problem = None
        obj = None
        try:
            obj = self.plugins.load(plugin.kind, plugin.name).obj
            rows.append(("Description", _description(obj, plugin.distribution,
                                                    plugin.name)))
        except PluginLoadError as exc:
            problem = f"fails to load: {exc.cause or exc}"
        ddl = None
        if plugin.kind == "agent" and problem is None:
            agent = self.agents().get(plugin.name)
            if agent is not None and agent.ddl is None:
                problem = agent.error
            elif agent is not None:
                ddl = agent.ddl
        elif plugin.kind == "data" and obj is not None and callable(
                getattr(obj, "load_ddl", None)):
            try:
                ddl = obj.load_ddl()
            except MCollectiveError as exc:
                problem = f"DDL error: {exc}"
        if ddl is not None:
            meta = ddl.metadata
            if meta.description:  # what the DDL says, as 'mco plugin doc' lists it
                rows = [(k, meta.description if k == "Description" else v) for k, v in rows]
            rows += [("Version", meta.version), ("Author", meta.author),
                     ("License", meta.license), ("Timeout", f"{meta.timeout} second(s)")]
            if plugin.kind == "agent":
                rows.append(("Actions", ", ".join(ddl.actions)))
            if getattr(ddl, "source", None):
                rows.append(("DDL", str(ddl.source)))
        rows.append(("Status", "loads" if problem is None else problem))
        self.out.print(Text(f"{plugin.name}", style="bold"))
        width = max(len(k) for k, _ in rows) + 2
        for key, value in rows:
            line = Text(f"  {(key + ':').ljust(width)} ")
            line.append(value, style="red" if key == "Status" and problem else "")
            self.out.print(line)
        self.out.print()
        return 0 if problem is None else 1

    # --- doc ------------------------------------------------------------------------

    def doc(self, args: argparse.Namespace) -> int:
        if not args.plugin:
            if args.json:
                raise MCollectiveError("--json needs an agent name")
            self.list_plugins()
            return 0
        kind, _, name = args.plugin.rpartition("/")
        if kind and kind not in KINDS:
            raise MCollectiveError(f"unknown plugin kind '{kind}'; kinds: "
                                   f"{', '.join(sorted(KINDS))}")
        if kind in ("", "agent"):
            agent = self.agents().get(name)
            if agent is not None:
                return self.doc_agent(agent, args)
            if kind == "agent":
                raise MCollectiveError(f"no agent '{name}' is installed here")
        if args.json or args.action:
            raise MCollectiveError(f"'{name}' is not an agent: no DDL to show")
        for found in installed_plugins(kind or None):
            if found.name == name and found.kind != "agent":
                self.doc_plugin(found.kind, name)
                return 0
        raise MCollectiveError(f"no plugin '{args.plugin}' is installed; "
                               "'mco plugin doc' lists them")

    def doc_agent(self, agent: AgentDoc, args: argparse.Namespace) -> int:
        if agent.ddl is None:
            raise MCollectiveError(f"agent '{agent.name}': {agent.error}")
        if args.json:
            self.out.file.write(agent.ddl.to_json() + "\n")
            return 0
        self.out.print(render_help(agent.ddl, args.action), markup=False, highlight=False)
        return 0

    def doc_plugin(self, kind: str, name: str) -> None:
        found = {p.name: p for p in installed_plugins(kind)}[name]
        self.out.print(Text(f"{name} ({KIND_TITLES.get(kind, kind)})", style="bold"))
        self.out.print(f"  distribution: {found.distribution} {found.version}",
                       markup=False)
        self.out.print(f"  target:       {found.target}", markup=False)
        self.out.print()
        try:
            obj = self.plugins.load(kind, name).obj
        except PluginLoadError as exc:
            self.out.print(Text(f"  failed to load: {exc}", style="red"))
            return
        summary = _description(obj, found.distribution, name)
        if inspect.ismodule(obj):
            # A module that only declares hooks documents the wiring, not the plugin;
            # the distribution's README documents the plugin.
            text = (f"{summary}\n\nSettings and usage: the README of "
                    f"{found.distribution}.")
        else:
            text = plain_text(_docstring(obj))
            if summary and summary != _first_paragraph(text):
                text = f"{summary}\n\n{text}" if text else summary
        self.out.print(text or "(no documentation)", markup=False, highlight=False)

    def list_plugins(self) -> None:
        self.out.print("Please specify a plugin. Available plugins are:\n", markup=False)
        problems = 0
        agents = self.agents()
        rows: dict[str, list[tuple[str, str, bool]]] = {}
        for agent in sorted(agents.values(), key=lambda a: a.name):
            if agent.ddl is not None:
                rows.setdefault("agent", []).append(
                    (agent.name, agent.ddl.metadata.description, False))
            else:
                rows.setdefault("agent", []).append((agent.name, agent.error or "", True))
        for found in installed_plugins():
            if found.kind == "agent":
                continue
            try:
                text, broken = _description(self.plugins.load(found.kind, found.name).obj,
                                            found.distribution, found.name), False
            except PluginLoadError as exc:
                text, broken = f"failed to load: {exc.cause}", True
            rows.setdefault(found.kind, []).append((found.name, text, broken))
        for kind, title in KIND_TITLES.items():
            entries = rows.get(kind)
            if not entries:
                continue
            self.out.print(Text(f"{title}:", style="bold"))
            width = max(len(n) for n, _, _ in entries) + 3
            for name, text, broken in entries:
                line = Text(f"  {name.ljust(width)}")
                line.append(text, style="red" if broken else "")
                self.out.print(line)
                problems += broken
            self.out.print()
        if problems:
            self.err.print(f"{problems} plugin(s) could not be loaded or have a broken "
                           "DDL (shown in red)", style="red", markup=False)

    def agents(self) -> dict[str, AgentDoc]:
        """Every agent the installed agent plugins provide (external ones included),
        each with its DDL or the reason it has none."""
        out: dict[str, AgentDoc] = {}
        for found in installed_plugins("agent"):
            try:
                plugin = self.plugins.load("agent", found.name)
                classes = self.plugins.call(plugin, config=self.config) or []
            except Exception as exc:
                cause = exc.cause if isinstance(exc, PluginLoadError) and exc.cause else exc
                out.setdefault(found.name, AgentDoc(
                    found.name, found.name, error=f"plugin failed to load: {cause}"))
                continue
            for cls in classes:
                name = getattr(cls, "agent_name", None) or found.name
                if name in out:
                    continue
                doc = AgentDoc(name, found.name, cls)
                try:
                    doc.ddl = cls.load_ddl()
                except Exception as exc:
                    doc.error = f"DDL error: {exc}"
                out[name] = doc
        return out


def _docstring(obj: Any) -> str:
    """The plugin's own docstring (not one inherited from a base class), else its
    module's."""
    own = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__",
                                                                           None)
    return inspect.cleandoc(own) if own else inspect.getdoc(inspect.getmodule(obj)) or ""


def _location(distribution: str) -> str | None:
    """Where the distribution's files are (an editable install: its source tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import distribution as find

    try:
        dist = find(distribution)
    except PackageNotFoundError:
        return None
    direct = dist.read_text("direct_url.json")
    if direct:
        import json

        try:
            info = json.loads(direct)
        except ValueError:
            info = {}
        url = str(info.get("url", "")) if isinstance(info, dict) else ""
        if url.startswith("file://"):
            editable = bool((info.get("dir_info") or {}).get("editable"))
            return url[len("file://"):] + (" (editable)" if editable else "")
    located = dist.locate_file("")
    return str(located) if located else None


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n", 1)[0].split())


@functools.cache
def _plugins_per_distribution() -> dict[str, int]:
    """How many plugins (applications aside) each distribution provides; read once per
    run, since ``mco plugin doc`` asks for every plugin."""
    counts: dict[str, int] = {}
    for plugin in installed_plugins():
        if plugin.kind != "application":
            counts[plugin.distribution] = counts.get(plugin.distribution, 0) + 1
    return counts


def _description(obj: Any, distribution: str, name: str) -> str:
    """One clean line for a plugin: its ``description`` attribute, else the summary of
    a distribution that exists for this one plugin (kombu, psk...: written for users),
    else the first paragraph of its docstring, without reST markup or a leading
    ``name:`` that only repeats the plugin's name."""
    if isinstance(getattr(obj, "description", None), str):
        return plain_text(obj.description)
    if callable(getattr(obj, "load_ddl", None)):  # data plugins: the DDL says it
        try:
            described = obj.load_ddl().metadata.description
        except Exception:
            described = None
        if isinstance(described, str) and described.strip():
            return described
    if _plugins_per_distribution().get(distribution) == 1:
        from importlib.metadata import PackageNotFoundError, metadata

        try:
            summary = metadata(distribution)["Summary"]
        except (PackageNotFoundError, KeyError):
            summary = None
        if summary:
            return str(summary)
    text = _first_paragraph(plain_text(_docstring(obj)))
    text = re.sub(rf"^{re.escape(name)}(\(\S*\))?:\s+", "", text)
    return text[:1].upper() + text[1:]


#: reST roles (:mod:`x`, :class:`~a.B`), inline literals and links, in docstrings.
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`_?")


def plain_text(text: str) -> str:
    """Docstring text as a user reads it: ``:mod:`.nodelist``` → ``nodelist``,
    double-backquoted literals and `links`_ unquoted, ``::`` code markers → ``:``."""

    def role(match: re.Match[str]) -> str:
        target = match.group(1).strip()
        if target.startswith(("~", ".")):
            target = target.lstrip("~.").rsplit(".", 1)[-1]
        return target

    text = _ROLE.sub(role, text)
    text = _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)
    return re.sub(r"(?<=\S)::$", ":", re.sub(r"^::\n", "", text, flags=re.M),
                  flags=re.M)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
