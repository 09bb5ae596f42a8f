"""The built-in validators, and the plugin objects that declare them.

A validator is a callable that takes one value and raises
:class:`~mcollective.errors.ValidatorError` with a message saying why the value is not
acceptable (returning means it is). DDLs name them in an input's ``validation``
(``"validation": "shellsafe"``) and agents call them on values they compute themselves.

MCollective shipped ``shellsafe``, ``ipv4address``, ``ipv6address``, ``regex``,
``length``, ``array`` and ``typecheck``; Choria added ``ipaddress`` (either family); we add
``pattern`` (the value is a regular expression with a bounded cost, :mod:`mcollective.regex`).
The argument-free ones are also published as plugins in the entry-point group
``mcollective.validators`` through the small classes at the end of this module, so that core
declares its validators exactly as a third party would. The ones that take an argument
(``regex``, ``length``, ``array``, ``typecheck``) are factories returning a check; a DDL
cannot name them (it has no way to pass the argument), so they are library functions only.

Also here: :func:`ruby_regex`, which translates the Ruby-flavoured regular expressions found
in real DDLs into Python ones, and :func:`plugin_resolver`, which turns a plugin manager into
the ``validators=`` resolver that :meth:`mcollective.ddl.ActionDDL.validate` takes.
"""

from __future__ import annotations

import ipaddress as _ip
import re
from collections.abc import Callable, Collection, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mcollective import hookimpl
from mcollective import regex as bounded_regex
from mcollective.errors import PluginLoadError, ValidatorError
from mcollective.regex import Pattern

if TYPE_CHECKING:
    from mcollective.plugins import PluginManager

#: What a validator is: raises ValidatorError, returns None.
Validator = Callable[[Any], None]

#: Looks a validator plugin up by name; None when nobody provides it.
Resolver = Callable[[str], Validator | None]

__all__ = [
    "BUILTIN",
    "IPAddress",
    "IPv4Address",
    "IPv6Address",
    "RegexPattern",
    "Resolver",
    "ShellSafe",
    "Validator",
    "array",
    "ipaddress",
    "ipv4address",
    "ipv6address",
    "length",
    "pattern",
    "plugin_resolver",
    "regex",
    "ruby_regex",
    "shellsafe",
    "typecheck",
]


def _short(value: Any, limit: int = 60) -> str:
    """repr() of a value, cut short: messages go back to clients and into logs, and a
    10 kB command line helps nobody there."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- shellsafe ------------------------------------------------------------------------

#: What shellsafe refuses, with the reason given to the user. MCollective and Choria refuse
#: `` ` $ ; | && > < ``. We also refuse a lone ``&`` (``pkg & rm -rf /`` runs the second
#: command in any POSIX shell, and ``&`` covers ``&&``) and line breaks and NUL (a newline
#: separates commands exactly as ``;`` does). See docs/ddl.md.
_SHELL_UNSAFE: tuple[tuple[str, str], ...] = (
    ("`", "'`'"),
    ("$", "'$'"),
    (";", "';'"),
    ("|", "'|'"),
    ("&", "'&'"),
    (">", "'>'"),
    ("<", "'<'"),
    ("\n", "a newline"),
    ("\r", "a carriage return"),
    ("\x00", "a NUL byte"),
)
_SHELL_UNSAFE_RE = re.compile("[" + re.escape("".join(c for c, _ in _SHELL_UNSAFE)) + "]")
_SHELL_REASON = dict(_SHELL_UNSAFE)


def shellsafe(value: Any) -> None:
    """Refuse strings that could smuggle a second command into a shell command line."""
    if not isinstance(value, str):
        raise ValidatorError(f"shellsafe can only check strings, got {type(value).__name__}")
    found = _SHELL_UNSAFE_RE.search(value)
    if found:
        raise ValidatorError(
            f"{_short(value)} is not shell safe: it contains {_SHELL_REASON[found.group()]}"
        )


# --- IP addresses ---------------------------------------------------------------------


def ipv4address(value: Any) -> None:
    """A dotted-quad IPv4 address (no netmask, no leading zeros), as Choria checks it."""
    if not isinstance(value, str):
        raise ValidatorError(f"an IPv4 address must be a string, got {type(value).__name__}")
    try:
        _ip.IPv4Address(value)
    except ValueError:
        raise ValidatorError(f"{_short(value)} is not an IPv4 address") from None


def ipv6address(value: Any) -> None:
    """An IPv6 address in any of its textual forms (no prefix length)."""
    if not isinstance(value, str):
        raise ValidatorError(f"an IPv6 address must be a string, got {type(value).__name__}")
    try:
        _ip.IPv6Address(value)
    except ValueError:
        raise ValidatorError(f"{_short(value)} is not an IPv6 address") from None


def ipaddress(value: Any) -> None:
    """An IPv4 or an IPv6 address."""
    if not isinstance(value, str):
        raise ValidatorError(f"an IP address must be a string, got {type(value).__name__}")
    try:
        _ip.ip_address(value)
    except ValueError:
        raise ValidatorError(f"{_short(value)} is not an IPv4 or IPv6 address") from None


# --- regular expressions as values ---------------------------------------------------------


def pattern(value: Any) -> None:
    """Refuse a string that is not a regular expression this collective can honour with
    a bounded cost (see :mod:`mcollective.regex`): for inputs that an agent searches
    with, such as the process agent's ``pattern``. Used in a DDL, ``mco`` refuses such a
    value before sending."""
    if not isinstance(value, str):
        raise ValidatorError(f"pattern can only check strings, got {type(value).__name__}")
    try:
        bounded_regex.compile(value)
    except bounded_regex.PatternError as exc:
        raise ValidatorError(str(exc)) from None


# --- factories --------------------------------------------------------------------------


def regex(pattern: str | Pattern) -> Validator:
    """A check that the value is a string in which ``pattern`` is found (a search:
    unanchored, as in MCollective; anchor the pattern with ``^``/``$`` to match whole).

    The pattern is compiled by :mod:`mcollective.regex` (RE2 syntax, bounded cost;
    :class:`~mcollective.regex.PatternError` if it cannot be honoured); use
    :func:`ruby_regex` first for one taken from a DDL.
    """
    compiled = bounded_regex.compile(pattern) if isinstance(pattern, str) else pattern

    def check(value: Any) -> None:
        if not isinstance(value, str):
            raise ValidatorError(f"can only match strings, got {type(value).__name__}")
        if compiled.search(value) is None:
            raise ValidatorError(f"{_short(value)} does not match /{compiled.pattern}/")

    return check


def length(maximum: int) -> Validator:
    """A check that a string (or any sized value) has at most ``maximum`` characters
    (items); ``0`` means unlimited, as ``maxlength: 0`` does in a DDL."""

    def check(value: Any) -> None:
        try:
            size = len(value)
        except TypeError:
            raise ValidatorError(f"{type(value).__name__} has no length") from None
        if maximum and size > maximum:
            raise ValidatorError(f"longer than {maximum} characters ({size})")

    return check


def array(choices: Iterable[Any]) -> Validator:
    """A check that the value is one of ``choices`` (MCollective's ``array`` validator, the
    rule behind the DDL ``list`` type)."""
    allowed: Collection[Any] = list(choices)

    def check(value: Any) -> None:
        if value not in allowed:
            listed = ", ".join(str(c) for c in allowed)
            raise ValidatorError(f"{_short(value)} should be one of {listed}")

    return check


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


#: DDL type name → (test, what the error calls it). ``float`` accepts ints: JSON has a single
#: number type, so a client cannot be expected to send ``10.0`` rather than ``10`` (Choria
#: accepts both for the same reason: Go decodes every JSON number as float64).
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "integer": (_is_int, "an integer"),
    "float": (_is_number, "a float"),
    "number": (_is_number, "a number"),
    "hash": (lambda v: isinstance(v, dict), "a hash (JSON object)"),
    "array": (lambda v: isinstance(v, list), "an array (JSON array)"),
}

TYPE_NAMES: tuple[str, ...] = tuple(_TYPES)


def _type_name(v: Any) -> str:
    return {
        bool: "boolean", int: "integer", float: "float", str: "string", dict: "hash",
        list: "array", type(None): "null",
    }.get(type(v), type(v).__name__)


def typecheck(kind: str | type) -> Validator:
    """A check that the value is of DDL type ``kind`` (``string``, ``boolean``,
    ``integer``, ``float``, ``number``, ``hash``, ``array``; case-insensitive) or an
    instance of the Python class ``kind``. Booleans are never numbers here, although
    ``bool`` subclasses ``int`` in Python."""
    if isinstance(kind, type):
        cls = kind

        def check_class(value: Any) -> None:
            if not isinstance(value, cls) or (isinstance(value, bool) and cls is not bool
                                              and cls in (int, float)):
                raise ValidatorError(
                    f"expected {cls.__name__}, got {_type_name(value)} {_short(value)}"
                )

        return check_class
    try:
        test, what = _TYPES[kind.lower()]
    except KeyError:
        raise ValueError(
            f"unknown type {kind!r}; types: {', '.join(TYPE_NAMES)}"
        ) from None

    def check(value: Any) -> None:
        if not test(value):
            raise ValidatorError(f"expected {what}, got {_type_name(value)} {_short(value)}")

    return check


# --- Ruby regular expressions -------------------------------------------------------------

_HEX = "0-9a-fA-F"


@lru_cache(maxsize=1024)
def ruby_regex(pattern: str) -> Pattern:
    """Compile a DDL ``validation`` regex written for Ruby (MCollective) or Go (Choria).

    Real DDLs were written for Ruby; this translates them into the RE2 syntax of
    :mod:`mcollective.regex` (bounded cost, the engine every caller-supplied pattern
    uses):

    * ``\\z`` (end of string) stays ``\\z``.
    * Ruby's ``\\Z`` (end, or before a final newline) becomes ``\\n?\\z``.
    * ``\\h``/``\\H`` (hex digit or not) become character classes.
    * ``$`` outside a character class becomes ``\\z`` unless the pattern asks for
      multi-line mode with ``(?m``, so ``^[a-z]+$`` does not accept ``"abc\\n"``, as
      Choria (Go) does not.

    Compiled patterns are cached because the same few patterns recur across DDLs.
    Raises :class:`~mcollective.regex.PatternError` for a pattern that cannot be
    compiled even after translation (or needs backtracking: a backreference, a
    lookaround).
    """
    multiline = "(?m" in pattern
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Z" and not in_class:
                out.append("\\n?\\z")
            elif nxt == "h":
                out.append(_HEX if in_class else f"[{_HEX}]")
            elif nxt == "H" and not in_class:
                out.append(f"[^{_HEX}]")
            else:
                out.append(c + nxt)
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # A ']' right after '[' or '[^' is a literal member, not the end of the class.
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        if c == "$" and not multiline:
            out.append("\\z")
            i += 1
            continue
        out.append(c)
        i += 1
    return bounded_regex.compile("".join(out))


# --- plugin resolution --------------------------------------------------------------------


def plugin_resolver(plugins: PluginManager) -> Resolver:
    """Build the ``validators=`` resolver for :meth:`mcollective.ddl.ActionDDL.validate`
    from a plugin manager.

    A validator that is not installed resolves to ``None`` (the DDL then warns once and
    accepts the value, as Choria does). One that is installed but fails to load raises
    :class:`~mcollective.errors.PluginLoadError`; the DDL then refuses the value rather
    than let it through unchecked. Results are cached: the plugin manager is asked once
    per name, not once per request.
    """
    cache: dict[str, Validator | None] = {}

    def resolve(name: str) -> Validator | None:
        if name not in cache:
            try:
                cache[name] = plugins.create_validator(name)
            except PluginLoadError as exc:
                if exc.cause is not None:
                    raise
                cache[name] = None
        return cache[name]

    return resolve


# --- plugin objects (entry-point group mcollective.validators) ----------------------------

#: The validators a DDL can name directly. They are looked up before any plugin, so an
#: installed plugin can never replace what ``shellsafe`` means.
BUILTIN: dict[str, Validator] = {
    "shellsafe": shellsafe,
    "ipv4address": ipv4address,
    "ipv6address": ipv6address,
    "ipaddress": ipaddress,
    "pattern": pattern,
}


class ShellSafe:
    """Plugin object for ``shellsafe``."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = ("Strings without shell metacharacters: no backtick, $, ;, |, &, >, <, "
                   "newline or NUL")

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Validator:
        return shellsafe


class IPv4Address:
    """Plugin object for ``ipv4address``."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "A dotted-quad IPv4 address, without prefix length or leading zeros"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Validator:
        return ipv4address


class IPv6Address:
    """Plugin object for ``ipv6address``."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "An IPv6 address in any textual form, without prefix length"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Validator:
        return ipv6address


class IPAddress:
    """Plugin object for ``ipaddress`` (IPv4 or IPv6)."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "An IPv4 or IPv6 address"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Validator:
        return ipaddress


class RegexPattern:
    """Plugin object for ``pattern`` (a regular expression with a bounded cost)."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "A regular expression that RE2 can run, in linear time (docs/regex.md)"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Validator:
        return pattern
