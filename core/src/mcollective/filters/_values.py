"""Value matching shared by fact filters and compound statements.

Everything here is decided once, when a filter is compiled, and returns small closures;
``Filter.matches`` then only calls them. That split matters because every node runs
``matches`` for every broadcast request it receives.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from mcollective import regex as bounded_regex
from mcollective.errors import FilterSyntaxError
from mcollective.regex import Pattern

#: Returned by fact and output look-ups when there is no value at all.
MISSING: Final[Any] = object()

#: Canonical comparison operators, as they travel on the wire.
OPERATORS: Final = ("==", "!=", "<", ">", "<=", ">=", "=~", "!~")
REGEX_OPERATORS: Final = frozenset({"=~", "!~"})
ORDER_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
}

#: Array facts inside array facts are searched this deep; deeper elements never match.
MAX_CONTAINER_DEPTH: Final = 16
#: Dotted fact paths with more segments than this are only looked up literally.
MAX_PATH_SEGMENTS: Final = 64
#: Longer strings are never treated as numbers (bounds the cost of int()).
MAX_NUMBER_LENGTH: Final = 400

_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_PREFIXED_INT = re.compile(r"[+-]?0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_PLAIN_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")


# --- regular expressions ---------------------------------------------------------------


def regex_body(value: str) -> str:
    """The pattern of ``/re/``: one leading and one trailing slash removed when both are
    there. Interior slashes stay (the original removed every slash, which broke
    patterns such as ``/usr\\/local/``)."""
    if len(value) >= 2 and value[0] == "/" and value[-1] == "/":
        return value[1:-1]
    return value


def compile_regex(
    pattern: str, *, text: str = "", position: int | None = None,
) -> Pattern:
    """Compile ``pattern`` with the bounded engine of :mod:`mcollective.regex` (RE2:
    linear-time matching, whatever the pattern; cached there, as the same filter arrives
    with every request).

    Regular expressions are unanchored and case-sensitive; ``(?i)`` at the start makes
    one case-insensitive. A pattern the engine cannot honour (a backreference, a
    lookaround, one too long) raises only :class:`FilterSyntaxError`, on the client
    before sending as on the node.
    """
    if not pattern:
        raise FilterSyntaxError(
            "empty regular expression (it would match everything; leave the test out)",
            text=text, position=position)
    try:
        return bounded_regex.compile(pattern)
    except bounded_regex.PatternError as exc:
        raise FilterSyntaxError(str(exc), text=text, position=position) from None


def name_entry(kind: str, entry: Any) -> tuple[str | None, Pattern | None]:
    """Split a class, agent or identity entry into (literal, regex).

    ``/re/`` is a regular expression; anything else is compared literally. An entry
    that starts with ``/`` but is not ``/re/`` is an error rather than a silent guess.
    """
    if not isinstance(entry, str):
        raise FilterSyntaxError(f"{kind} entries must be strings, not {type(entry).__name__}")
    if not entry:
        raise FilterSyntaxError(f"empty {kind} name")
    if entry[0] == "/":
        if len(entry) < 2 or entry[-1] != "/":
            raise FilterSyntaxError(
                f"{kind} {entry!r} starts with '/' but is not a /regular expression/")
        return None, compile_regex(entry[1:-1])
    return entry, None


# --- numbers and strings ---------------------------------------------------------------


def decimal_number(text: str) -> int | float | None:
    """``text`` as a number if it is written as a plain decimal (``-1``, ``9.5``).

    Used when both sides are strings: only unambiguous decimals count, so that hex-like
    identifiers or ``1e3`` serial numbers are not compared numerically by accident.
    """
    if len(text) > MAX_NUMBER_LENGTH or not _DECIMAL.fullmatch(text):
        return None
    return float(text) if "." in text else int(text)


def any_number(text: str) -> int | float | None:
    """``text`` as a number in any common notation: decimal, ``0x9e``, ``0o17``,
    ``0b101``, ``1.58e2``. Used when the fact or data output itself is a number."""
    if len(text) > MAX_NUMBER_LENGTH:
        return None
    if _PLAIN_INT.fullmatch(text):
        return int(text, 10)
    if _PREFIXED_INT.fullmatch(text):
        return int(text, 0)
    if _FLOAT.fullmatch(text):
        return float(text)
    return None


def stringify(value: Any) -> str:
    """The string form filters compare: JSON spelling for booleans (``true``)."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- comparing one value ---------------------------------------------------------------


def value_test(op: str, expected: str) -> Callable[[Any], bool]:
    """A predicate for a value that is present (not ``MISSING``/``None``).

    Arrays match when any element matches, hashes when any key matches: the original's
    rules, applied to native JSON values instead of stringified ones.
    """
    scalar = scalar_test(op, expected)

    def test(value: Any, depth: int = 0) -> bool:
        if isinstance(value, str):
            return scalar(value)
        if isinstance(value, Mapping):
            return any(key is not None and scalar(key) for key in value)
        if isinstance(value, (list, tuple, set, frozenset)):
            if depth >= MAX_CONTAINER_DEPTH:
                return False
            return any(item is not None and test(item, depth + 1) for item in value)
        return scalar(value)

    return test


def scalar_test(op: str, expected: str) -> Callable[[Any], bool]:
    """The comparison rules for one scalar (see docs/filters.md, "Comparisons").

    * ``=~``/``!~``: regex search in the string form.
    * ``==``/``!=``: a number compares numerically with a value that parses as a
      number; everything else compares the string form (``true``/``false`` for
      booleans). String facts stay string-equal even when they look numeric, so that
      ``5.10`` is not "equal" to ``5.1``.
    * ``< > <= >=``: numeric when the fact is a number and the value parses as one, or
      when both are decimal strings; booleans never order; otherwise string order.
    """
    if op in REGEX_OPERATORS:
        search = compile_regex(regex_body(expected)).search
        if op == "=~":
            return lambda v: search(v if isinstance(v, str) else stringify(v)) is not None
        return lambda v: search(v if isinstance(v, str) else stringify(v)) is None

    number = any_number(expected)
    if op in ("==", "!="):
        want = op == "=="

        def equals(v: Any) -> bool:
            if isinstance(v, str):
                return (v == expected) is want
            if number is not None and is_number(v):
                return (v == number) is want
            return (stringify(v) == expected) is want

        return equals

    try:
        cmp = ORDER_OPERATORS[op]
    except KeyError:
        raise FilterSyntaxError(f"unknown operator {op!r}") from None
    decimal = decimal_number(expected)

    def order(v: Any) -> bool:
        if isinstance(v, str):
            if decimal is not None:
                n = decimal_number(v)
                if n is not None:
                    return cmp(n, decimal)
            return cmp(v, expected)
        if isinstance(v, bool):
            return False
        if number is not None and isinstance(v, (int, float)):
            return cmp(v, number)
        return cmp(stringify(v), expected)

    return order


def truthy(value: Any) -> bool:
    """What a data-plugin function with no comparison means: ``true``, a non-zero number
    or a non-empty string/collection."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if is_number(value):
        return value != 0
    if isinstance(value, (str, Mapping, list, tuple, set, frozenset)):
        return len(value) > 0
    return True


# --- facts ---------------------------------------------------------------------------


def fact_lookup(name: str) -> Callable[[Mapping[str, Any]], Any]:
    """A function returning the fact ``name`` from a facts mapping, or ``MISSING``.

    The exact top-level key wins; otherwise ``a.b.0.c`` walks nested hashes and array
    indexes, and at every level a literal key made of the remaining path wins over
    walking further (so ``{"os": {"release.major": "12"}}`` answers ``os.release.major``).
    """
    if "." not in name:
        return lambda facts: facts.get(name, MISSING)
    parts = name.split(".")
    if len(parts) > MAX_PATH_SEGMENTS:
        return lambda facts: facts.get(name, MISSING)
    rest = [".".join(parts[i:]) for i in range(len(parts))]
    count = len(parts)

    def lookup(facts: Mapping[str, Any]) -> Any:
        value = facts.get(name, MISSING)
        if value is not MISSING:
            return value
        current: Any = facts
        for i in range(count):
            if isinstance(current, Mapping):
                if i:
                    value = current.get(rest[i], MISSING)
                    if value is not MISSING:
                        return value
                current = current.get(parts[i], MISSING)
                if current is MISSING:
                    return MISSING
            elif isinstance(current, (list, tuple)):
                segment = parts[i]
                if not (segment.isascii() and segment.isdigit()) or len(segment) > 9:
                    return MISSING
                index = int(segment)
                if index >= len(current):
                    return MISSING
                current = current[index]
            else:
                return MISSING
        return current

    return lookup
