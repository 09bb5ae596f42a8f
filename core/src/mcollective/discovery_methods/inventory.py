"""``inventory``: discovery against a file describing the fleet, with every filter kind.

The file holds each node's facts, classes, agents and collectives, plus named groups;
the whole filter language (``-S`` included) is evaluated locally on
:class:`~mcollective.filters.Node` views built from it, so discovery costs no network
round trip and works for nodes that are momentarily unreachable (Choria's inventory
method). Two layouts are read — the one the ``registration`` agent writes, and
Choria's::

    nodes:                                  nodes:
      web1.example.net:                       - name: web1.example.net
        facts: {country: uk}                    facts: {country: uk}
        classes: [apache]                       classes: [apache]
        agents: [rpcutil, package]              agents: [rpcutil, package]
        collectives: [mcollective]              collectives: [mcollective]
    groups:                                 groups:
      web: [web1.example.net]                 - name: uk
      uk: {filter: {facts: [country=uk]}}       filter: {facts: [country=uk]}

``-I group:NAME`` selects a group's members. A node that does not list its agents (or
collectives) is assumed to have them: the file cannot know, and the request itself
still carries the filter for the node to check. A group with only a name (Choria's
schema requires nothing else) has every node of the file. Choria's ``with('x')``
expression function is read as the class or fact test it names; data-plugin functions
(``fstat(...)``, and Choria's ``fact()``/``include()``) are refused with an error naming
them, in groups and in ``-S``, because the file cannot answer them and evaluating them
would match nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mcollective.discovery import (
    DiscoveryError,
    DiscoveryMethod,
    DiscoveryRequest,
    check_identity,
)
from mcollective.errors import FilterSyntaxError
from mcollective.filters import Filter, Node
from mcollective.filters._compound import data_queries
from mcollective.hookspecs import hookimpl

log = logging.getLogger(__name__)

GROUP_PREFIX = "group:"
_FILTER_KEYS = {
    "facts": "facts", "fact": "facts", "classes": "classes", "cf_class": "classes",
    "agents": "agents", "agent": "agents", "identities": "identities",
    "identity": "identities", "compound": "compound", "with": "with_",
}


@dataclass(frozen=True)
class InventoryNode:
    identity: str
    facts: Mapping[str, Any]
    classes: tuple[str, ...]
    #: ``None``: the file does not say (the node is assumed to have them all).
    agents: tuple[str, ...] | None
    collectives: tuple[str, ...] | None

    def view(self) -> Node:
        return Node(identity=self.identity, facts=self.facts, classes=self.classes,
                    agents=self.agents or (), collectives=self.collectives or ())


@dataclass(frozen=True)
class Inventory:
    nodes: tuple[InventoryNode, ...]
    #: Group name → its filter, or its explicit member list.
    groups: Mapping[str, Filter | tuple[str, ...]]
    source: str

    def members(self, group: str) -> set[str]:
        try:
            spec = self.groups[group]
        except KeyError:
            known = ", ".join(sorted(self.groups)) or "none"
            raise DiscoveryError(f"{self.source}: no group '{group}' (groups: {known})"
                                 ) from None
        if isinstance(spec, tuple):
            return set(spec)
        return {n.identity for n in self.nodes if _matches(spec, n)}

    def select(self, flt: Filter, collective: str | None) -> list[str]:
        """The identities matching ``flt`` (``-I group:NAME`` included), in file order."""
        plain = [i for i in flt.identities if not i.startswith(GROUP_PREFIX)]
        in_groups: set[str] = set()
        for entry in flt.identities:
            if entry.startswith(GROUP_PREFIX):
                in_groups |= self.members(entry[len(GROUP_PREFIX):])
        rest = Filter(facts=flt.facts, classes=flt.classes, agents=flt.agents,
                      compound=flt.compound)
        refuse_data_functions(rest, f"{self.source}: the compound filter")
        by_identity = Filter(identities=plain) if plain else None
        found = []
        for node in self.nodes:
            if collective is not None and node.collectives is not None \
                    and collective not in node.collectives:
                continue
            if not _matches(rest, node):
                continue
            if flt.identities and node.identity not in in_groups and not (
                    by_identity is not None and by_identity.matches(node.view())):
                continue
            found.append(node.identity)
        return found


def _matches(flt: Filter, node: InventoryNode) -> bool:
    if node.agents is None and flt.agents:
        flt = Filter(facts=flt.facts, classes=flt.classes, identities=flt.identities,
                     compound=flt.compound)
    return flt.matches(node.view())


class InventoryDiscovery(DiscoveryMethod):
    """Evaluate the filter on the nodes of an inventory file.

    The file: ``--do FILE`` (or ``--do file=FILE``), else ``plugin.inventory.file`` in
    the client configuration. YAML, or JSON when the name ends in ``.json``.
    """

    name = "inventory"
    default_timeout = 0.0
    uses_timeout = False
    broadcast = False

    def __init__(self) -> None:
        self._cache: tuple[Path, int, int, Inventory] | None = None

    def discover(self, request: DiscoveryRequest) -> list[str]:
        options = request.option_map(positional="file", known=("file",))
        path = self._path(options.get("file"), request)
        return self.load(path).select(request.filter, request.collective)

    def _path(self, given: str | None, request: DiscoveryRequest) -> Path:
        if given:
            return Path(given).expanduser()
        if request.config is not None:
            configured = request.config.plugin_config(
                "inventory", {"file": str}).get("file")
            if configured:
                return request.config.resolve_path(configured)
        raise DiscoveryError("the inventory discovery method needs a file: --do FILE or "
                             "plugin.inventory.file in the client configuration")

    def load(self, path: Path) -> Inventory:
        """The parsed file, re-read only when it changed."""
        try:
            st = path.stat()
        except OSError as exc:
            raise DiscoveryError(f"cannot read inventory {path}: "
                                 f"{exc.strerror or exc}") from None
        if self._cache is not None and self._cache[:3] == (path, st.st_mtime_ns, st.st_size):
            return self._cache[3]
        inventory = read_inventory(path)
        self._cache = (path, st.st_mtime_ns, st.st_size, inventory)
        return inventory

    @hookimpl
    @classmethod
    def mco_discovery_create(cls) -> DiscoveryMethod:
        return cls()


# --- reading the file -----------------------------------------------------------------------


def read_inventory(path: Path) -> Inventory:
    """Parse and validate an inventory file; :class:`DiscoveryError` names the file and
    the entry at fault."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DiscoveryError(f"cannot read inventory {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise DiscoveryError(f"{source}: cannot parse the inventory: {exc}") from None
    return parse_inventory(data, source)


def parse_inventory(data: Any, source: str) -> Inventory:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DiscoveryError(f"{source}: an inventory is a mapping with 'nodes' (and "
                             f"optionally 'groups'), got {type(data).__name__}")
    unknown = set(data) - {"$schema", "nodes", "groups"}
    if unknown:
        log.warning("%s: ignoring unknown key(s) %s", source, ", ".join(sorted(unknown)))
    nodes = tuple(_nodes(data.get("nodes") or {}, source))
    groups = dict(_groups(data.get("groups") or {}, source))
    return Inventory(nodes=nodes, groups=groups, source=source)


def _nodes(raw: Any, source: str) -> list[InventoryNode]:
    entries: list[tuple[str, Any, str]] = []
    if isinstance(raw, dict):
        entries = [(name, body, f"{source}: nodes.{name}") for name, body in raw.items()]
    elif isinstance(raw, list):
        for index, body in enumerate(raw):
            where = f"{source}: nodes[{index}]"
            if not isinstance(body, dict) or "name" not in body:
                raise DiscoveryError(f"{where}: a node needs a 'name'")
            entries.append((body["name"], body, where))
    else:
        raise DiscoveryError(f"{source}: 'nodes' must be a mapping or a list")
    out: dict[str, InventoryNode] = {}
    for name, body, where in entries:
        identity = check_identity(name, where)
        body = body or {}
        if not isinstance(body, dict):
            raise DiscoveryError(f"{where}: must be a mapping of facts, classes, agents, "
                                 "collectives")
        facts = body.get("facts")
        facts = {} if facts is None else facts
        if not isinstance(facts, dict):
            raise DiscoveryError(f"{where}: 'facts' must be a mapping")
        out[identity] = InventoryNode(
            identity=identity, facts=facts,
            classes=_strings(body.get("classes") or [], f"{where}.classes"),
            agents=(_agent_names(body["agents"], f"{where}.agents")
                    if body.get("agents") is not None else None),
            collectives=(_strings(body["collectives"], f"{where}.collectives")
                         if body.get("collectives") else None),
        )
    return list(out.values())


def _groups(raw: Any, source: str) -> list[tuple[str, Filter | tuple[str, ...]]]:
    if isinstance(raw, dict):
        items = [(name, body, f"{source}: groups.{name}") for name, body in raw.items()]
    elif isinstance(raw, list):
        items = []
        for index, body in enumerate(raw):
            where = f"{source}: groups[{index}]"
            if not isinstance(body, dict) or not isinstance(body.get("name"), str):
                raise DiscoveryError(f"{where}: a group needs a 'name'")
            items.append((body["name"], body, where))
    else:
        raise DiscoveryError(f"{source}: 'groups' must be a mapping or a list")
    out: list[tuple[str, Filter | tuple[str, ...]]] = []
    for name, body, where in items:
        if not isinstance(name, str) or not name:
            raise DiscoveryError(f"{where}: group names must be non-empty strings")
        if body is None or (isinstance(body, dict) and set(body) <= {"name"}):
            # Choria's schema requires only the name; an empty filter matches every node,
            # so a group without one is every node of the file.
            out.append((name, Filter()))
        elif isinstance(body, list):
            out.append((name, tuple(check_identity(n, where) for n in body)))
        elif isinstance(body, dict) and "nodes" in body:
            members = _strings(body["nodes"], f"{where}.nodes")
            out.append((name, tuple(check_identity(n, where) for n in members)))
        elif isinstance(body, dict) and "filter" in body and (
                body["filter"] is None or isinstance(body["filter"], dict)):
            out.append((name, _group_filter(body["filter"] or {}, where)))
        else:
            raise DiscoveryError(f"{where}: a group is a list of identities, or a mapping "
                                 "with 'nodes' or 'filter'")
    return out


def _group_filter(raw: Mapping[str, Any], where: str) -> Filter:
    kwargs: dict[str, list[str]] = {}
    for key, value in raw.items():
        target = _FILTER_KEYS.get(key)
        if target is None:
            raise DiscoveryError(f"{where}.filter: unknown key {key!r}; use "
                                 "facts, classes, agents, identities, compound")
        if value in (None, "", []):
            continue
        items = [value] if isinstance(value, str) else value
        kwargs.setdefault(target, []).extend(_strings(items, f"{where}.filter.{key}"))
    if any(i.startswith(GROUP_PREFIX) for i in kwargs.get("identities", [])):
        raise DiscoveryError(f"{where}.filter: a group cannot refer to other groups")
    try:
        flt = Filter.build(**kwargs)
    except FilterSyntaxError as exc:
        hint = ("\n(of Choria's expression language, compound filters here take with('...')"
                " tests joined by and, or, not and parentheses)") if "compound" in kwargs else ""
        raise DiscoveryError(f"{where}.filter: {exc}{hint}") from None
    refuse_data_functions(flt, f"{where}.filter")
    return flt


def refuse_data_functions(flt: Filter, where: str) -> None:
    """A compound filter calling a data function (``fstat(...)``, or Choria expression
    functions other than ``with()`` such as ``fact(...)``/``include(...)``) needs the
    node to answer it; an inventory file cannot, and evaluating it here would quietly
    match nothing. Refuse it, naming the function."""
    for expr in flt.compound:
        queries = data_queries(expr)
        if queries:
            plugin = queries[0][0]
            raise DiscoveryError(
                f"{where}: {plugin}() cannot be evaluated from an inventory file (it asks "
                "the node); use fact, class, agent and identity tests (Choria's with('x') "
                "is one) or another discovery method")


def _agent_names(value: Any, where: str) -> tuple[str, ...]:
    """A node's agents: names, or go-choria's ``{name: ..., version: ...}`` objects."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        names = [item.get("name") if isinstance(item, Mapping) else item for item in value]
        if all(isinstance(n, str) and n for n in names):
            return tuple(names)  # type: ignore[arg-type]
    raise DiscoveryError(f"{where}: must be a list of agent names or of {{name, version}} "
                         "objects")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or \
            not all(isinstance(v, str) for v in value):
        raise DiscoveryError(f"{where}: must be a list of strings")
    return tuple(value)
