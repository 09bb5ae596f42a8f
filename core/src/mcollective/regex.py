"""Regular expressions with a bounded cost: the one place that compiles a pattern which a
caller, a DDL or a plugin supplies.

A node evaluates request filters on its consumer thread *before* authorization, so any
holder of any client credential chooses the patterns it runs. Python's ``re`` backtracks:
``(.*)*(.*)*x`` against a few kilobytes of facts takes minutes, holding the GIL the whole
time (no timeout reply, SIGTERM waits). This module compiles every caller-supplied pattern
with **RE2** (the ``google-re2`` bindings, a dependency of mcollective-core), whose
matching time is linear in the length of the text, whatever the pattern.

Where RE2 cannot be imported (a platform without a wheel), a **guarded fallback** uses
Python's ``re`` but first refuses every construct that lets it backtrack without bound:
a quantified group that itself holds a quantifier or an alternation (``(a+)+``,
``(.*)*``, ``(a|ab)*``), more than :data:`MAX_UNBOUNDED_REPEATS` unbounded quantifiers in
one pattern, and everything RE2 refuses as well (backreferences, lookarounds, atomic
groups, possessive quantifiers), so that a pattern means the same on every node.

Both engines refuse patterns longer than :data:`MAX_PATTERN_LENGTH` characters. What a
pattern may contain, and how it differs from Python's ``re``, is in docs/regex.md.
Errors are :class:`PatternError` with a one-line message naming the pattern.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Final, Protocol

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_UNBOUNDED_REPEATS",
    "Pattern",
    "PatternError",
    "compile",
    "engine",
]

#: Longest pattern accepted (characters). Filters, DDL validations and agent inputs are
#: short; a longer one is almost certainly an attempt to make compilation itself costly.
MAX_PATTERN_LENGTH: Final = 1024

#: The fallback engine refuses patterns with more unbounded quantifiers (``*``, ``+``,
#: ``{n,}``) than this: each one can multiply the backtracking of the others.
MAX_UNBOUNDED_REPEATS: Final = 3

#: Memory RE2 may use for one compiled pattern (bytes); RE2 refuses larger programs.
RE2_MAX_MEM: Final = 8 << 20

#: ``MCOLLECTIVE_REGEX_ENGINE=python`` forces the guarded fallback even where RE2 is
#: installed (to check, on a test machine, what nodes without RE2 accept).
ENGINE_VARIABLE: Final = "MCOLLECTIVE_REGEX_ENGINE"


class PatternError(ValueError):
    """A pattern this node cannot honour with a bounded cost; the message is one line
    and names the pattern."""


class Pattern(Protocol):
    """What :func:`compile` returns: the subset of ``re.Pattern`` callers use."""

    @property
    def pattern(self) -> str: ...

    def search(self, string: str) -> Any: ...

    def fullmatch(self, string: str) -> Any: ...


def engine() -> str:
    """``"re2"`` or ``"python"`` (the guarded fallback): what :func:`compile` uses here."""
    return _engine(os.environ.get(ENGINE_VARIABLE, ""))


@functools.lru_cache(maxsize=4)
def _engine(forced: str) -> str:
    if forced == "python":
        return "python"
    try:
        import re2  # noqa: F401
    except ImportError:
        return "python"
    return "re2"


def compile(pattern: str) -> Pattern:
    """Compile ``pattern`` with the bounded engine (cached: the same filter arrives with
    every request). Raises :class:`PatternError`.

    The syntax is RE2's, which is Python's minus the constructs that need backtracking
    (see docs/regex.md); ``\\z`` and ``\\Z`` both mean "end of text" with either engine.
    """
    if not isinstance(pattern, str):
        raise PatternError(f"a pattern must be a string, not {type(pattern).__name__}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"invalid regular expression /{_short(pattern)}/: "
                           f"{len(pattern)} characters long, the limit is {MAX_PATTERN_LENGTH}")
    return _compile(pattern, engine())


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str, which: str) -> Pattern:
    if which == "re2":
        return _compile_re2(pattern)
    return _compile_python(pattern)


def _short(pattern: str, limit: int = 60) -> str:
    """The pattern for an error message: cut short, control characters escaped."""
    text = pattern if len(pattern) <= limit else pattern[: limit - 3] + "..."
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def _end_anchor(pattern: str, replacement: str) -> str:
    r"""``pattern`` with ``\z`` and ``\Z`` outside character classes spelled
    ``replacement`` (RE2 knows only ``\z``, Python before 3.14 only ``\Z``)."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            pair = pattern[i : i + 2]
            out.append(replacement if pair in ("\\z", "\\Z") and not in_class else pair)
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        if c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


# --- RE2 ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _re2_options() -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = RE2_MAX_MEM
    return options


class _RE2Pattern:
    """An RE2 program that reports the pattern as the caller wrote it."""

    __slots__ = ("_regexp", "pattern")

    def __init__(self, pattern: str, regexp: Any) -> None:
        self.pattern = pattern
        self._regexp = regexp

    def search(self, string: str) -> Any:
        return self._regexp.search(string)

    def fullmatch(self, string: str) -> Any:
        return self._regexp.fullmatch(string)

    def __repr__(self) -> str:
        return f"re2.compile({self.pattern!r})"


#: A ``{n}``/``{n,m}`` count too large for RE2 (limit 1000), which RE2 would silently read
#: as literal text; refused instead, as Python refuses it.
_HUGE_COUNT = re.compile(r"(?<!\\)\{(?:\d{5,}|\d*,\d{5,})\}")


def _compile_re2(pattern: str) -> Pattern:
    import re2

    if _HUGE_COUNT.search(pattern):
        raise PatternError(f"invalid regular expression /{_short(pattern)}/: "
                           "repetition count over 1000")
    try:
        regexp = re2.compile(_end_anchor(pattern, "\\z"), _re2_options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(f"invalid regular expression /{_short(pattern)}/: {reason} "
                           "(RE2 syntax: see docs/regex.md)") from None
    except (TypeError, ValueError, UnicodeError) as exc:
        raise PatternError(f"invalid regular expression /{_short(pattern)}/: {exc}") from None
    return _RE2Pattern(pattern, regexp)


# --- the guarded fallback -----------------------------------------------------------------


def _compile_python(pattern: str) -> Pattern:
    # Private modules of ``re`` (stable since 3.11); typed as Any so that mypy versions
    # with and without stubs for them agree.
    import importlib

    c: Any = importlib.import_module("re._constants")
    _parser: Any = importlib.import_module("re._parser")

    translated = re.sub(r"\(\?<(?![=!])", "(?P<", _end_anchor(pattern, "\\Z"))
    try:
        parsed = _parser.parse(translated)
    except (re.error, OverflowError, RecursionError, ValueError, TypeError) as exc:
        reason = exc.msg if isinstance(exc, re.error) else str(exc) or type(exc).__name__
        raise PatternError(f"invalid regular expression /{_short(pattern)}/: {reason}") from None

    refused = {
        c.GROUPREF: "backreferences", c.GROUPREF_EXISTS: "conditional groups",
        c.ASSERT: "lookarounds", c.ASSERT_NOT: "lookarounds",
        c.ATOMIC_GROUP: "atomic groups", c.POSSESSIVE_REPEAT: "possessive quantifiers",
    }
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT)
    unbounded = 0

    def items(sub: Any) -> list[tuple[Any, Any]]:
        return list(sub.data if hasattr(sub, "data") else sub)

    def risky(sub: Any) -> bool:
        """Whether ``sub`` can match one text in more than one way (a quantifier or an
        alternation inside it)."""
        for op, av in items(sub):
            if op in repeats and av[1] > 1:
                return True
            if op is c.BRANCH:
                return True
            if op is c.SUBPATTERN and risky(av[-1]):
                return True
        return False

    def walk(sub: Any) -> None:
        nonlocal unbounded
        for op, av in items(sub):
            if op in refused:
                raise PatternError(f"invalid regular expression /{_short(pattern)}/: {refused[op]} "
                                   "are not supported (RE2 syntax: see docs/regex.md)")
            if op in repeats:
                _low, high, body = av
                if high == c.MAXREPEAT:
                    unbounded += 1
                if high > 1 and risky(body):
                    raise PatternError(
                        f"invalid regular expression /{_short(pattern)}/: a repeated group "
                        "holds a quantifier or an alternation, which can take exponential "
                        "time without RE2")
                walk(body)
            elif op is c.SUBPATTERN:
                walk(av[-1])
            elif op is c.BRANCH:
                for alternative in av[1]:
                    walk(alternative)

    walk(parsed)
    if unbounded > MAX_UNBOUNDED_REPEATS:
        raise PatternError(
            f"invalid regular expression /{_short(pattern)}/: {unbounded} unbounded "
            f"quantifiers, at most {MAX_UNBOUNDED_REPEATS} without RE2")
    try:
        compiled = re.compile(translated)
    except (re.error, OverflowError, RecursionError, ValueError, TypeError) as exc:
        reason = exc.msg if isinstance(exc, re.error) else str(exc) or type(exc).__name__
        raise PatternError(f"invalid regular expression /{_short(pattern)}/: {reason}") from None
    return _PythonPattern(pattern, compiled)


class _PythonPattern:
    """A checked Python pattern that reports the pattern as the caller wrote it."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, compiled: re.Pattern[str]) -> None:
        self.pattern = pattern
        self._compiled = compiled

    def search(self, string: str) -> Any:
        return self._compiled.search(string)

    def fullmatch(self, string: str) -> Any:
        return self._compiled.fullmatch(string)

    def __repr__(self) -> str:
        return f"re.compile({self.pattern!r})"
