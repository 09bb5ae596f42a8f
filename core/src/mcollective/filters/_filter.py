"""The whole request filter: wire form, option builders, matching and description."""

from __future__ import annotations

import types
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from mcollective.errors import FilterSyntaxError
from mcollective.filters._compound import (
    DataUnavailable,
    Expr,
    class_predicate,
    compile_expr,
    data_queries,
    describe_class,
    describe_expr,
    describe_statement,
    expr_from_wire,
    expr_size,
    fetch_data,
    parse_compound,
)
from mcollective.filters._facts import FactFilter, fact_predicate, parse_fact_filter
from mcollective.filters._values import name_entry

#: ``data(plugin, query)`` → the plugin's outputs, or ``None`` when the plugin is
#: missing or failed.
DataLookup: TypeAlias = Callable[[str, "str | None"], "Mapping[str, Any] | None"]

_EMPTY_FACTS: Final[Mapping[str, Any]] = types.MappingProxyType({})
_LIST_KEYS: Final = ("fact", "cf_class", "agent", "identity", "compound")
#: Characters that never occur in class names: a ``-W`` word containing one is a fact.
_FACT_MARKERS: Final = frozenset("=<>!~")


@dataclass(slots=True)
class Node:
    """What a node is, as filters see it. Built per message, so it is a plain slotted
    record: the daemon passes its cached facts and class list, not copies.

    ``classes``, ``agents`` and ``collectives`` may be any collection (a list or a
    set); ``data`` answers data-plugin queries for compound filters and returns
    ``None`` when the plugin is missing or failed.
    """

    identity: str
    facts: Mapping[str, Any] = field(default_factory=lambda: _EMPTY_FACTS)
    classes: Collection[str] = ()
    agents: Collection[str] = ()
    collectives: Collection[str] = ()
    data: DataLookup | None = None


Check: TypeAlias = Callable[[Node], bool]


class Filter:
    """A request filter: facts, classes, agents and compound expressions must all pass;
    identities pass when any one matches. A filter with nothing in it matches every
    node.

    Immutable: everything is validated and compiled when it is built, so
    :meth:`matches` only runs precompiled checks.
    """

    __slots__ = ("_asks_data", "_checks", "agents", "classes", "compound", "facts",
                 "identities")

    facts: tuple[FactFilter, ...]
    classes: tuple[str, ...]
    agents: tuple[str, ...]
    identities: tuple[str, ...]
    compound: tuple[Expr, ...]

    def __init__(
        self, *, facts: Iterable[FactFilter] = (), classes: Iterable[str] = (),
        agents: Iterable[str] = (), identities: Iterable[str] = (),
        compound: Iterable[Expr] = (),
    ) -> None:
        self.facts = tuple(facts)
        self.classes = tuple(classes)
        self.agents = tuple(agents)
        self.identities = tuple(identities)
        self.compound = tuple(compound)
        checks: list[Check] = []
        for flt in self.facts:
            if not isinstance(flt, FactFilter):
                raise FilterSyntaxError(
                    f"fact filters must be FactFilter, not {type(flt).__name__}")
            checks.append(fact_predicate(flt))
        checks.extend(class_predicate(entry) for entry in self.classes)
        for entry in self.agents:
            check = _agent_predicate(entry)
            if check is not None:
                checks.append(check)
        if self.identities:
            checks.append(_identity_predicate(self.identities))
        asks_data = False
        for expr in self.compound:
            expr_size(expr)
            checks.append(_compound_predicate(expr))
            asks_data = asks_data or bool(data_queries(expr))
        self._checks = tuple(checks)
        self._asks_data = asks_data

    # --- construction ---------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> Filter:
        """Validate and compile a wire filter (``fact``, ``cf_class`` or the old
        ``puppet_class``, ``agent``, ``identity``, ``compound``).

        Missing keys and ``null`` mean empty lists. Anything malformed raises
        :class:`FilterSyntaxError`, never another exception: the node drops the request.
        """
        if not isinstance(data, dict):
            raise FilterSyntaxError(f"a filter must be an object, not {type(data).__name__}")
        lists: dict[str, list[Any]] = {key: [] for key in _LIST_KEYS}
        for key, value in data.items():
            name = "cf_class" if key == "puppet_class" else key
            if name not in lists:
                raise FilterSyntaxError(f"unknown filter key {key!r}")
            if value is None:
                continue
            if not isinstance(value, list):
                raise FilterSyntaxError(
                    f"filter {key!r} must be a list, not {type(value).__name__}")
            lists[name].extend(value)
        for key in ("cf_class", "agent", "identity"):
            for entry in lists[key]:
                if not isinstance(entry, str):
                    raise FilterSyntaxError(
                        f"filter {key!r} entries must be strings, not {type(entry).__name__}")
        return cls(
            facts=[FactFilter.from_dict(entry) for entry in lists["fact"]],
            classes=lists["cf_class"], agents=lists["agent"],
            identities=lists["identity"],
            compound=[expr_from_wire(entry) for entry in lists["compound"]],
        )

    @classmethod
    def build(
        cls, *, facts: Iterable[str | FactFilter] = (), classes: Iterable[str] = (),
        agents: Iterable[str] = (), identities: Iterable[str] = (),
        compound: Iterable[str | Expr] = (), with_: Iterable[str] = (),
    ) -> Filter:
        """Build a filter from command-line style values: ``-F`` strings, ``-C``/``-A``/
        ``-I`` names or ``/regex/``, ``-S`` expressions and ``-W`` strings.

        Each ``-W`` string is split on spaces; a word that contains an operator
        character (``= < > ! ~``) must be a valid fact filter, any other word is a class.
        """
        fact_list = [f if isinstance(f, FactFilter) else parse_fact_filter(f) for f in facts]
        class_list = list(classes)
        for text in with_:
            for word in text.split():
                if _FACT_MARKERS.intersection(word):
                    fact_list.append(parse_fact_filter(word))
                else:
                    class_list.append(word)
        return cls(
            facts=fact_list, classes=class_list, agents=agents, identities=identities,
            compound=[parse_compound(c) if isinstance(c, str) else c for c in compound],
        )

    def with_agent(self, agent: str) -> Filter:
        """This filter plus an agent test (clients add their own agent); ``self`` when
        the agent is already there."""
        if agent in self.agents:
            return self
        return Filter(facts=self.facts, classes=self.classes, agents=(*self.agents, agent),
                      identities=self.identities, compound=self.compound)

    # --- use ------------------------------------------------------------------------

    def matches(self, node: Node) -> bool:
        """Whether ``node`` passes every check. Never raises for a well-formed ``Node``:
        data-plugin failures make the expression using them false."""
        # A plain loop: measurably faster than all() over a generator on this hot path.
        for check in self._checks:  # noqa: SIM110
            if not check(node):
                return False
        return True

    def asks_data(self) -> bool:
        """Whether matching runs data-plugin queries (``fstat('/x').size>0``): plugin
        code with its own, longer, cost (nodes evaluate these off their consumer)."""
        return self._asks_data

    def is_empty(self) -> bool:
        """No tests at all (matches every node)."""
        return not (self.facts or self.classes or self.agents or self.identities
                    or self.compound)

    def literal_identities(self, *, ignore_agents: bool = False) -> tuple[str, ...] | None:
        """The identities, de-duplicated in order, when the filter consists of literal
        (non-regex) identities only; otherwise ``None``.

        Clients use this to skip discovery. ``ignore_agents=True`` tolerates agent
        tests (clients always add their own agent); the requests they then send must
        still carry the full filter so that nodes re-check it.
        """
        if not self.identities or self.facts or self.classes or self.compound:
            return None
        if self.agents and not ignore_agents:
            return None
        if any(entry.startswith("/") for entry in self.identities):
            return None
        return tuple(dict.fromkeys(self.identities))

    def to_dict(self) -> dict[str, list[Any]]:
        """The wire form with all five keys (fresh lists, safe to modify)."""
        return {
            "fact": [f.to_dict() for f in self.facts],
            "cf_class": list(self.classes),
            "agent": list(self.agents),
            "identity": list(self.identities),
            "compound": [expr.to_wire() for expr in self.compound],
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Filter):
            return NotImplemented
        return (self.facts, self.classes, self.agents, self.identities, self.compound) == (
            other.facts, other.classes, other.agents, other.identities, other.compound)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"{key}={value!r}" for key, value in self.to_dict().items() if value]
        return f"Filter({', '.join(parts)})"


def _agent_predicate(entry: str) -> Check | None:
    literal, regex = name_entry("agent", entry)
    if literal == "mcollective":
        return None  # every node is an mcollective node
    if regex is None:
        return lambda node: literal in node.agents
    search = regex.search
    return lambda node: any(search(a) for a in node.agents)


def _identity_predicate(entries: tuple[str, ...]) -> Check:
    literals: set[str] = set()
    searches = []
    for entry in entries:
        literal, regex = name_entry("identity", entry)
        if regex is None:
            literals.add(literal)  # type: ignore[arg-type]
        else:
            searches.append(regex.search)
    if not searches:
        if len(literals) == 1:
            (only,) = literals
            return lambda node: node.identity == only
        return lambda node: node.identity in literals

    def check(node: Node) -> bool:
        identity = node.identity
        if identity in literals:
            return True
        return any(search(identity) for search in searches)

    return check


def _compound_predicate(expr: Expr) -> Check:
    compiled = compile_expr(expr)
    queries = data_queries(expr)
    if not queries:
        return lambda node: compiled(node, None)

    def check(node: Node) -> bool:
        answers = fetch_data(node, queries)
        if answers is None:
            return False
        try:
            return compiled(node, answers)
        except DataUnavailable:
            return False

    return check


# --- describing --------------------------------------------------------------------


def describe(flt: Filter | Mapping[str, Any], *, indent: str = "  ") -> list[str]:
    """Explain a filter in English, one line per check (all of them must pass);
    compound expressions get one line per statement, parentheses indented.

    Accepts a :class:`Filter` or its wire form.
    """
    if not isinstance(flt, Filter):
        flt = Filter.from_dict(flt)
    if flt.is_empty():
        return ["matches every node"]
    lines = [describe_statement(f) for f in flt.facts]
    lines += [describe_class(c) for c in flt.classes]
    for agent in flt.agents:
        if agent == "mcollective":
            lines.append("has agent 'mcollective' (always true)")
        elif agent.startswith("/"):
            lines.append(f"has an agent matching {agent}")
        else:
            lines.append(f"has agent {agent!r}")
    if flt.identities:
        described = [f"matches {i}" if i.startswith("/") else repr(i) for i in flt.identities]
        lines.append("identity is " + " or ".join(described))
    several = len(lines) + len(flt.compound) > 1
    for expr in flt.compound:
        body = describe_expr(expr, indent)
        if several and len(body) > 1:
            lines += ["(", *(indent + line for line in body), ")"]
        else:
            lines += body
    return lines
