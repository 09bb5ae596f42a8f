"""mcollective.regex: the one bounded-cost engine for caller-supplied patterns."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mcollective import regex
from mcollective.regex import MAX_PATTERN_LENGTH, PatternError, _compile_python

#: Exponential for a backtracking engine on the texts below.
CATASTROPHIC = ["(.*)*(.*)*(.*)*\\x01", "^(a+)+$", "(a|a?)*(.*)*!", "^(\\w+\\s?)*$"]


def test_engine_is_re2_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(regex.ENGINE_VARIABLE, raising=False)
    assert regex.engine() == "re2"
    monkeypatch.setenv(regex.ENGINE_VARIABLE, "python")
    assert regex.engine() == "python"


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_run_in_linear_time_with_re2(pattern: str) -> None:
    """Run in a child process with a deadline: with a backtracking engine the child
    would still be matching when the deadline passes (minutes), holding the GIL."""
    code = textwrap.dedent(f"""
        from mcollective import regex
        compiled = regex.compile({pattern!r})
        for text in ["a" * 40 + "!", "hostile-target-alpha.example.net", "x" * 100_000]:
            compiled.search(text)
        print("done")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stdout.strip() == "done", proc.stderr


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(a)\\1", "invalid escape sequence"),
    ("(?=a)b", "invalid perl operator"),
    ("(?<!a)b", "invalid perl operator"),
    ("a++", "bad repetition operator"),
    ("a{99999999999999999999}", "repetition count over 1000"),
    ("[", "missing ]"),
    ("a" * (MAX_PATTERN_LENGTH + 1), "the limit is 1024"),
])
def test_refusals_are_one_line_and_name_the_pattern(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as info:
        regex.compile(pattern)
    message = str(info.value)
    assert message.startswith("invalid regular expression /")
    assert reason in message and "\n" not in message


@pytest.mark.parametrize(("pattern", "text", "found"), [
    ("^web\\d+\\z", "web12", True), ("^web\\d+\\Z", "web12\n", False),
    ("^web\\d+$", "web12\n", False), ("(?i)DEBIAN", "debian", True),
    ("(?<name>a)b", "ab", True), ("(?P<name>a)b", "ab", True),
    ("[\\]z]", "z", True), ("\\pL+", "café", True),
])
@pytest.mark.parametrize("engine", ["re2", "python"])
def test_same_meaning_with_both_engines(engine: str, pattern: str, text: str, found: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "python" and "\\p" in pattern:
        pytest.skip("Python's re has no Unicode property classes")
    if engine == "python" and pattern == "^web\\d+$":
        pytest.skip("documented difference: Python's $ also matches before a final newline")
    monkeypatch.setenv(regex.ENGINE_VARIABLE, engine if engine == "python" else "re2")
    assert (regex.compile(pattern).search(text) is not None) is found
    assert regex.compile(pattern).pattern == pattern


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(.*)*x", "a repeated group holds a quantifier"),
    ("(a+)+", "a repeated group holds a quantifier"),
    ("(a|ab)*c", "a repeated group holds a quantifier or an alternation"),
    ("a.*b.*c.*d.*e", "4 unbounded quantifiers"),
    ("(a)\\1", "backreferences"),
    ("(?=a)", "lookarounds"),
    ("(?>a)", "atomic groups"),
])
def test_fallback_refuses_what_backtracks(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason):
        _compile_python(pattern)


@pytest.mark.parametrize("pattern", ["^web\\d+$", "(ab){3}", "a.*b.*c", "(?i)x",
                                     "(foo)?bar", "[a-z]+-[0-9]+"])
def test_fallback_accepts_ordinary_patterns(pattern: str) -> None:
    _compile_python(pattern)


def test_ddl_validation_regex_has_a_bounded_cost() -> None:
    """A DDL whose ``validation`` backtracks catastrophically, and a caller's value made
    for it: validation finishes (refusing the value) instead of holding the node."""
    code = textwrap.dedent("""
        from mcollective.ddl import action_ddl, input_item
        from mcollective.errors import DDLValidationError
        ddl = action_ddl("run", "run", inputs=[
            input_item("words", description="words", validation="^(\\\\w+\\\\s?)*$",
                       maxlength=0)])
        try:
            ddl.validate({"words": "a" * 60 + "!"})
        except DDLValidationError as exc:
            print("refused:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stdout.startswith("refused:"), proc.stdout + proc.stderr
    assert "does not match" in proc.stdout or "words" in proc.stdout
