"""``--filter-replies`` expressions: Choria's functions, expr's operators, and that no
text, however hostile, gets further than a one-line ReplyFilterError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcollective.client.reply_filter import (
    MAX_DEPTH,
    ReplyFilter,
    ReplyFilterError,
    data_lookup,
)
from mcollective.client.results import Result

OK = Result("web1.example.net", 0, "OK",
            {"ensure": "1.2", "idling": False, "count": 5, "load": 0.5,
             "packages": ["bash", "nginx"], "disks": [{"size": 10}, {"size": 20}],
             "dotted.key": "yes"},
            "package", "status", 1_700_000_000.0)
FAILED = Result("db1.example.net", 1, "Could not stop", {"ensure": "absent"},
                "package", "status", 1_700_000_001.0)


def matches(expression: str, reply: Result = OK) -> bool:
    return ReplyFilter(expression).matches(reply)


@pytest.mark.parametrize(("expression", "ok", "failed"), [
    ("ok()", True, False),
    ("aborted()", False, True),
    ("!ok()", False, True),
    ("not ok()", False, True),
    ("unknown_action() || missing_data() || invalid_data() || unknown_error()", False, False),
    ('ok() && data("ensure") == "1.2"', True, False),
    ('data("ensure") != "absent"', True, False),
    ('!data("idling")', True, False),  # a failed reply has no idling: not evaluable
    ('include(data("packages"), "nginx")', True, False),
    ('"bash" in data("packages") and "vim" not in data("packages")', True, False),
    ('data("count") > 4 && data("count") <= 5', True, False),
    ('data("load") * 2 == 1', True, False),
    ('data("count") % 2 == 1 and data("count") / 2 == 2.5', True, False),
    ('data("disks.1.size") == 20', True, False),
    ('data("disks")[0].size + data("disks")[1]["size"] == 30', True, False),
    ('data("dotted.key") == "yes"', True, False),
    ('data("missing") == nil', True, True),
    ('sender() matches "^web"', True, False),
    ('sender() startsWith "db" || sender() endsWith ".net" and false', False, True),
    ('msg contains "stop"', False, True),
    ("code == 1", False, True),
    ("time() > 1700000000", False, True),
    ('len(data("packages")) == 2 and upper(data("ensure")) == "1.2"', True, False),
    ('lower(sender()) == sender() && int("3") + float("0.5") == 3.5', True, True),
    ('string(ok()) == "true"', True, False),
    ("undefined_name == nil", True, True),
    ("[1, 2] + [3] == [1, 2, 3]", True, True),
    ('"a" + "b" == "ab"', True, True),
    ("-1 < 0 and abs(-2) == 2", True, True),
])
def test_expressions(expression: str, ok: bool, failed: bool) -> None:
    assert matches(expression, OK) is ok
    assert matches(expression, FAILED) is failed


@pytest.mark.parametrize(("expression", "message"), [
    ("", "is empty"),
    ("ok(", "cannot parse --filter-replies at column 3: unexpected end of expression"),
    ("ok() &&& true", "unexpected '&'"),
    ("ok() ok()", "unexpected 'ok'"),
    ("okk()", "unknown function okk(); did you mean ok()?"),
    ("eval('1')", "unknown function eval()"),
    ("__import__('os')", "unknown function __import__()"),
    ("data()", "data() takes 1 argument, got 0"),
    ("include(1)", "include() takes 2 arguments, got 1"),
    ('"text"', "is a constant, not a test"),
    ("!" * (MAX_DEPTH + 1) + "ok()", f"nests deeper than {MAX_DEPTH} levels"),
    ("ok() or " * 1000 + "ok()", "longer than 4096 characters"),
])
def test_mistakes_are_one_line_errors(expression: str, message: str) -> None:
    with pytest.raises(ReplyFilterError) as exc:
        ReplyFilter(expression)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_replies_that_cannot_be_evaluated_are_left_out_and_counted() -> None:
    rf = ReplyFilter('data("ensure") > 1')
    assert rf.filter([OK, FAILED, OK]) == []
    assert rf.describe_problems() == ["3 replies left out by --filter-replies: cannot "
                                      "compare a string with a number using >"]
    rf = ReplyFilter('data("ensure")')
    assert not rf.matches(OK)
    assert rf.describe_problems() == ["1 reply left out by --filter-replies: the "
                                      "expression gave a string, not true or false"]
    rf = ReplyFilter('sender() matches "("')
    assert not rf.matches(OK) and "bad regular expression" in rf.describe_problems()[0]


def test_data_lookup() -> None:
    data = {"a": {"b": [1, {"c": 2}]}, "x.y": 3}
    assert data_lookup(data, "a.b.1.c") == 2
    assert data_lookup(data, "x.y") == 3
    assert data_lookup(data, "a.b.5") is None
    assert data_lookup(data, "a.nope.c") is None
    assert data_lookup("text", "a") is None


VOCABULARY = ["ok()", "aborted()", 'data("ensure")', 'data("count")', "sender()",
              "include(", ")", "(", "[", "]", ",", "&&", "||", "!", "not", "and", "or",
              "==", "!=", "<", ">=", "in", "matches", "+", "-", "*", "/", "%", ".", "1",
              "0", "2.5", '"x"', "'y'", "nil", "true", "false", "code", "msg", "len(",
              "\\", '"', "'", "@", "$", "\x00", "é"]


@given(st.lists(st.sampled_from(VOCABULARY), max_size=12).map(" ".join))
def test_any_token_soup_parses_or_fails_cleanly(text: str) -> None:
    try:
        rf = ReplyFilter(text)
    except ReplyFilterError:
        return
    for reply in (OK, FAILED):
        assert rf.matches(reply) in (True, False)


@given(st.text(max_size=60))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        rf = ReplyFilter(text)
    except ReplyFilterError:
        return
    assert rf.matches(OK) in (True, False)
