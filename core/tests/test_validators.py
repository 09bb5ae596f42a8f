"""The built-in validators, the Ruby regex translation, and the validator plugin objects."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mcollective import validators as v
from mcollective.errors import ValidatorError
from mcollective.plugins import installed_names, make_plugin_manager
from mcollective.regex import PatternError


def rejects(check: Any, value: Any) -> str:
    with pytest.raises(ValidatorError) as info:
        check(value)
    return str(info.value)


# --- shellsafe ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["zsh", "nginx-1.2.3", "a b c", "/usr/bin/x", "a&&b"[:1],
                                   "tom (and) jerry", "key=value", "100%", "~/file", ""])
def test_shellsafe_accepts(value: str) -> None:
    v.shellsafe(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a`id`", "'`'"), ("$HOME", "'$'"), ("a;b", "';'"), ("a|b", "'|'"),
        ("a && b", "'&'"), ("a & b", "'&'"), ("a>b", "'>'"), ("a<b", "'<'"),
        ("a\nb", "a newline"), ("a\rb", "a carriage return"), ("a\x00b", "a NUL byte"),
    ],
)
def test_shellsafe_rejects(value: str, reason: str) -> None:
    assert rejects(v.shellsafe, value) == f"{value!r} is not shell safe: it contains {reason}"


def test_shellsafe_only_checks_strings() -> None:
    assert "can only check strings, got int" in rejects(v.shellsafe, 5)


def test_long_values_are_cut_short_in_messages() -> None:
    message = rejects(v.shellsafe, "x" * 5000 + ";")
    assert len(message) < 120 and "..." in message


# --- IP addresses ----------------------------------------------------------------------------


def test_ipv4address() -> None:
    v.ipv4address("192.168.1.1")
    v.ipv4address("0.0.0.0")
    for bad in ("192.168.1.256", "192.168.1", "010.0.0.1", "10.0.0.0/8", "::1", "host", ""):
        assert "is not an IPv4 address" in rejects(v.ipv4address, bad)
    assert "must be a string" in rejects(v.ipv4address, 167772161)


def test_ipv6address() -> None:
    for good in ("::1", "2001:db8::8a2e:370:7334", "fe80::1%eth0", "::ffff:10.0.0.1"):
        v.ipv6address(good)
    for bad in ("10.0.0.1", "2001:db8::/32", "gggg::1", ":::"):
        assert "is not an IPv6 address" in rejects(v.ipv6address, bad)


def test_ipaddress() -> None:
    v.ipaddress("10.0.0.1")
    v.ipaddress("::1")
    assert rejects(v.ipaddress, "example.com") == \
        "'example.com' is not an IPv4 or IPv6 address"
    assert "must be a string" in rejects(v.ipaddress, None)


# --- factories ---------------------------------------------------------------------------------


def test_regex() -> None:
    check = v.regex(r"^\d+$")
    check("123")
    assert rejects(check, "12a") == "'12a' does not match /^\\d+$/"
    assert "can only match strings" in rejects(check, 12)
    v.regex(re.compile("b"))("abc")  # unanchored search, as MCollective


def test_length() -> None:
    check = v.length(3)
    check("abc")
    check([1, 2])
    assert rejects(check, "abcd") == "longer than 3 characters (4)"
    assert "has no length" in rejects(check, 5)
    v.length(0)("x" * 10_000)  # 0 = unlimited


def test_array() -> None:
    check = v.array(["start", "stop"])
    check("start")
    assert rejects(check, "restart") == "'restart' should be one of start, stop"


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("string", ["", "x"], [1, None, b"x"]),
        ("boolean", [True, False], [0, 1, "true", None]),
        ("integer", [0, -5, 10**20], [1.0, True, "1"]),
        ("float", [1.5, 2, -0.0], [True, "1.5", None]),
        ("number", [1, 1.5], [False, "1"]),
        ("hash", [{}, {"a": 1}], [[], "{}"]),
        ("array", [[], [1]], [(), {}, "[]"]),
        ("Integer", [1], [True]),
    ],
)
def test_typecheck(kind: str, good: list[Any], bad: list[Any]) -> None:
    check = v.typecheck(kind)
    for value in good:
        check(value)
    for value in bad:
        assert rejects(check, value).startswith("expected ")


def test_typecheck_message_and_classes() -> None:
    assert rejects(v.typecheck("integer"), True) == "expected an integer, got boolean True"
    v.typecheck(int)(5)
    assert "expected int" in rejects(v.typecheck(int), True)
    v.typecheck(bool)(True)
    with pytest.raises(ValueError, match="unknown type 'any'"):
        v.typecheck("any")


# --- Ruby regexes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        (r"\A[a-zA-Z0-9_-]+\z", ["check_load"], ["check load", "check_load\n", ""]),
        (r"\A\d+\Z", ["12", "12\n"], ["12\n\n", "a"]),
        (r"^\h+$", ["deadBEEF"], ["xyz", "ab\n"]),
        (r"^[\h-]+$", ["ab-12"], ["g"]),
        (r"^\H$", ["g"], ["a"]),
        (r"^(?<word>\w+)$", ["abc"], ["a b"]),
        (r"^[$]+$", ["$$"], ["a"]),
        (r"^a\$", ["a$"], ["a"]),
        (r"^[]a]+$", ["]a"], ["b"]),
        (r"(?m)^a$", ["b\na\nc"], ["b"]),
        (r"^.+$", ["x"], ["", "x\n"]),
        (r".*", ["", "anything"], []),
    ],
)
@pytest.mark.parametrize("engine", ["re2", "python"])
def test_ruby_regex(pattern: str, matches: list[str], misses: list[str], engine: str,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same DDL patterns mean the same with RE2 and with the guarded fallback."""
    monkeypatch.setenv("MCOLLECTIVE_REGEX_ENGINE", engine)
    if engine == "re2":
        monkeypatch.delenv("MCOLLECTIVE_REGEX_ENGINE")
    compiled = v.ruby_regex.__wrapped__(pattern)
    for text in matches:
        assert compiled.search(text), (pattern, text)
    for text in misses:
        assert not compiled.search(text), (pattern, text)


@pytest.mark.parametrize("pattern", ["^[a-z", r"(?<=a)b", r"(a)\1", r"a(?!b)"])
def test_ruby_regex_errors(pattern: str) -> None:
    """Unbalanced, and constructs that need a backtracking engine (RE2 has none)."""
    with pytest.raises(PatternError, match="invalid regular expression"):
        v.ruby_regex(pattern)


def test_pattern_validator() -> None:
    """``pattern`` accepts what the bounded engine honours, including the shapes that
    are catastrophic for a backtracking engine (they run in linear time here)."""
    v.pattern("(.*)*(.*)*x")
    v.pattern(r"^web\d+$")
    assert "invalid regular expression" in rejects(v.pattern, r"(a)\1")
    assert "can only check strings" in rejects(v.pattern, 5)
    assert v.BUILTIN["pattern"] is v.pattern


# --- plugin objects ------------------------------------------------------------------------------


PLUGINS = {"shellsafe": v.ShellSafe, "ipv4address": v.IPv4Address,
           "ipv6address": v.IPv6Address, "ipaddress": v.IPAddress, "pattern": v.RegexPattern}


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_plugin_objects_implement_the_hook(name: str) -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register("validator", name, PLUGINS[name])
    check = pm.create_validator(name)
    assert check is v.BUILTIN[name]


def test_plugin_resolver() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register("validator", "shellsafe", v.ShellSafe)
    resolve = v.plugin_resolver(pm)
    assert resolve("shellsafe") is v.shellsafe
    assert resolve("nonesuch") is None


def test_entry_points_when_declared() -> None:
    names = set(installed_names("validator"))
    if not names:
        pytest.skip("no mcollective.validators entry points declared in core/pyproject.toml")
    assert set(PLUGINS) <= names
    pm = make_plugin_manager()
    for name in PLUGINS:
        assert pm.create_validator(name) is v.BUILTIN[name]
