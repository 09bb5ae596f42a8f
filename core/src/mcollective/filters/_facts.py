"""Fact filters: the ``-F`` syntax and the ``{fact, operator, value}`` wire entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from mcollective.errors import FilterSyntaxError
from mcollective.filters._values import (
    MISSING,
    OPERATORS,
    REGEX_OPERATORS,
    compile_regex,
    fact_lookup,
    regex_body,
    stringify,
    value_test,
)

if TYPE_CHECKING:
    from mcollective.filters._filter import Node

#: Operators as users may write them in ``-F``, longest first; aliases map to canonical.
_WRITTEN_OPERATORS: Final = ("=>", "=<", "<=", ">=", "==", "!=", "!~", "=~", "<", ">", "=")
_ALIASES: Final = {"=>": ">=", "=<": "<="}
_OPERATOR_CHARS: Final = frozenset("=<>!~")
_FACT_KEYS: Final = frozenset({"fact", "operator", "value"})


@dataclass(frozen=True, slots=True)
class FactFilter:
    """One fact test: ``fact`` compared with ``value`` by ``operator``.

    ``operator`` is canonical (``== != < > <= >= =~ !~``); ``value`` is always a
    string, and for ``=~``/``!~`` it is a pattern that may keep its ``/…/``.
    Constructing one validates it, so a ``FactFilter`` that exists can be evaluated.
    """

    fact: str
    operator: str
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.fact, str) or not self.fact:
            raise FilterSyntaxError("a fact filter needs a non-empty fact name")
        if self.operator not in OPERATORS:
            raise FilterSyntaxError(
                f"unknown fact operator {self.operator!r}; use one of {', '.join(OPERATORS)}")
        if not isinstance(self.value, str):
            raise FilterSyntaxError("a fact filter value must be a string")
        if self.operator in REGEX_OPERATORS:
            compile_regex(regex_body(self.value))

    def to_dict(self) -> dict[str, str]:
        """The wire form ``{"fact", "operator", "value"}``."""
        return {"fact": self.fact, "operator": self.operator, "value": self.value}

    to_wire = to_dict

    @classmethod
    def from_dict(cls, obj: Any) -> FactFilter:
        """Validate a wire entry. Numbers and booleans as values are accepted and
        turned into their string form (``true``, ``10``, ``2.5``)."""
        if not isinstance(obj, dict):
            raise FilterSyntaxError(
                f"a fact filter must be an object with fact, operator and value, "
                f"not {type(obj).__name__}")
        keys = set(obj)
        if keys != _FACT_KEYS:
            missing = sorted(_FACT_KEYS - keys)
            extra = sorted(str(k) for k in keys - _FACT_KEYS)
            problem = (f"missing {', '.join(missing)}" if missing
                       else f"unknown key(s) {', '.join(extra)}")
            raise FilterSyntaxError(f"malformed fact filter: {problem}")
        fact, op, value = obj["fact"], obj["operator"], obj["value"]
        if not isinstance(fact, str):
            raise FilterSyntaxError("fact filter 'fact' must be a string")
        if not isinstance(op, str):
            raise FilterSyntaxError("fact filter 'operator' must be a string")
        if isinstance(value, (int, float)):
            value = stringify(value)
        elif not isinstance(value, str):
            raise FilterSyntaxError("fact filter 'value' must be a string or number")
        return cls(fact, op, value)

    def __str__(self) -> str:
        return f"{self.fact}{self.operator}{self.value}"


def parse_fact_filter(text: str) -> FactFilter:
    """Parse a ``-F`` fact string.

    ``name OP value`` with OP one of ``== != < > <= >= =~ !~`` or the aliases ``=>``
    (``>=``) and ``=<`` (``<=``); ``name=value`` means ``==`` unless the value is
    ``/re/``, which means ``=~``. Spaces around the operator and around the whole
    string are ignored; the name must not contain spaces or operator characters, and
    the value must not be empty or start with ``= < > ~`` (a mistyped operator).
    """
    if not isinstance(text, str):
        raise FilterSyntaxError(f"a fact filter must be a string, not {type(text).__name__}")
    start = next((i for i, c in enumerate(text) if c in _OPERATOR_CHARS), None)
    if start is None:
        raise FilterSyntaxError(
            f"fact filter {text!r} has no operator; expected fact=value "
            "(or ==, !=, <, >, <=, >=, =~, !~)")
    name = text[:start].strip()
    if not name:
        raise FilterSyntaxError("fact filter has no fact name", text=text, position=start)
    offset = len(text[:start]) - len(text[:start].lstrip())
    space = next((i for i, c in enumerate(name) if c.isspace()), None)
    if space is not None:
        raise FilterSyntaxError(
            "fact name contains a space", text=text, position=offset + space)
    written = next((op for op in _WRITTEN_OPERATORS if text.startswith(op, start)), None)
    if written is None:
        raise FilterSyntaxError(
            f"unknown operator {text[start]!r}", text=text, position=start)
    rest = text[start + len(written):]
    value = rest.strip()
    vpos = start + len(written) + len(rest) - len(rest.lstrip())
    if not value:
        raise FilterSyntaxError(
            f"fact filter has no value after '{written}'", text=text, position=vpos)
    if value[0] in "=<>~":
        raise FilterSyntaxError(
            f"malformed operator '{written}{value[0]}'", text=text, position=vpos)
    op = _ALIASES.get(written, written)
    if op == "=":
        op = "=~" if len(value) >= 2 and value[0] == "/" and value[-1] == "/" else "=="
    try:
        return FactFilter(name, op, value)
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(str(exc), text=text, position=vpos) from None


def fact_predicate(flt: FactFilter) -> Callable[[Node], bool]:
    """Compile ``flt`` into ``node -> bool``. A missing fact (or ``null``) is false for
    every operator, ``!=`` and ``!~`` included."""
    test = value_test(flt.operator, flt.value)
    if "." not in flt.fact:
        name = flt.fact

        def simple(node: Node) -> bool:
            value = node.facts.get(name, MISSING)
            if value is MISSING or value is None:
                return False
            return test(value)

        return simple

    lookup = fact_lookup(flt.fact)

    def dotted(node: Node) -> bool:
        value = lookup(node.facts)
        if value is MISSING or value is None:
            return False
        return test(value)

    return dotted
