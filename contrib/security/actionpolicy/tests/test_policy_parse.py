"""Parsing policy and groups files: the classic format, strict errors with file and line."""

from __future__ import annotations

import logging

import pytest

from mcollective.filters import Node
from mcollective_actionpolicy.policy import PolicyError, is_compound, parse_groups, parse_policy

WEB = Node("web1", facts={"country": "uk", "role": "web", "cpus": 4,
                          "os": {"family": "Debian"}}, classes=["apache", "base"])
DB = Node("db1", facts={"country": "de", "role": "db", "cpus": 32,
                        "os": {"family": "RedHat"}}, classes=["mysql", "base"])


def decide(text: str, caller: str, action: str, node: Node = WEB,
           groups: dict[str, frozenset[str]] | None = None) -> bool | None:
    policy = parse_policy(text, "test.policy", groups)
    rule = policy.first_match(caller, action, node)
    return rule.allow if rule is not None else policy.default


def test_comments_blank_lines_and_default() -> None:
    policy = parse_policy("# a comment\n\n   \npolicy default deny\n", "p")
    assert policy.rules == () and policy.default is False and policy.default_line == 4
    assert parse_policy("", "p").default is None
    assert parse_policy("policy default allow", "p").default is True


def test_first_matching_rule_wins() -> None:
    text = ("policy default deny\n"
            "deny\tuser=alice\tstop\t*\t*\n"
            "allow\tuser=alice\t*\t*\t*\n")
    assert decide(text, "user=alice", "stop") is False
    assert decide(text, "user=alice", "start") is True
    assert decide(text, "user=bob", "start") is False  # the default


def test_callers_exact_match_fixes_substring_quirk() -> None:
    text = "allow\tuid=500\t*\t*\t*\npolicy default deny\n"
    assert decide(text, "uid=500", "x") is True
    assert decide(text, "uid=50", "x") is False
    assert decide(text, "uid=5000", "x") is False


def test_callers_lists_wildcards_and_groups() -> None:
    groups = {"admins": frozenset({"user=root", "user=alice"})}
    text = "allow\tuser=bob admins\tstatus restart\t*\t*\npolicy default deny"
    assert decide(text, "user=alice", "restart", groups=groups) is True
    assert decide(text, "user=bob", "status", groups=groups) is True
    assert decide(text, "user=mallory", "status", groups=groups) is False
    assert decide(text, "user=alice", "stop", groups=groups) is False
    assert decide("allow\t*\t*\t*\t*", "anyone=at_all", "any") is True


def test_fact_terms_must_all_hold() -> None:
    text = "allow\t*\t*\tcountry=uk role=web\t*\npolicy default deny"
    assert decide(text, "user=a", "x", WEB) is True
    assert decide(text, "user=a", "x", DB) is False
    numeric = "allow\t*\t*\tcpus>=16 os.family!=Debian\t*\npolicy default deny"
    assert decide(numeric, "user=a", "x", DB) is True
    assert decide(numeric, "user=a", "x", WEB) is False


def test_classes_field() -> None:
    text = "allow\t*\t*\t*\tapache base\npolicy default deny"
    assert decide(text, "user=a", "x", WEB) is True
    assert decide(text, "user=a", "x", DB) is False
    assert decide("allow\t*\t*\t*\t/^my/\npolicy default deny", "user=a", "x", DB) is True


def test_compound_in_facts_and_classes_fields() -> None:
    text = "allow\t*\t*\t(country=uk or country=de) and !role=db\t*\npolicy default deny"
    assert decide(text, "user=a", "x", WEB) is True
    assert decide(text, "user=a", "x", DB) is False
    classes = "allow\t*\t*\t*\tapache or mysql\npolicy default deny"
    assert decide(classes, "user=a", "x", DB) is True


def test_four_fields_is_one_compound_and_star_matches() -> None:
    assert decide("allow\t*\t*\trole=web and apache\npolicy default deny",
                  "user=a", "x", WEB) is True
    assert decide("allow\t*\t*\trole=web and apache\npolicy default deny",
                  "user=a", "x", DB) is False
    # The original never matched a four-field rule ending in '*'.
    assert decide("allow\t*\t*\t*\npolicy default deny", "user=a", "x", DB) is True


def test_several_tabs_separate_fields() -> None:
    assert decide("allow\t\tuser=a\t\t\tx\t*\t\t*\npolicy default deny", "user=a", "x") is True


def test_is_compound() -> None:
    assert is_compound("country=uk and role=web")
    assert is_compound("!role=db")
    assert is_compound("(a)")
    assert not is_compound("country=uk role!=db")
    assert not is_compound("apache base")


@pytest.mark.parametrize(("text", "line", "message"), [
    ("allow user=a * * *", 1, "TAB"),
    ("policy default deny\nallow\tuser=a\t*", 2, "found 3"),
    ("allow\tuser=a\t*\t*\t*\textra", 1, "found 6"),
    ("permit\tuser=a\t*\t*\t*", 1, "cannot parse"),
    ("policy default maybe", 1, "allow or deny"),
    ("policy default deny\n\npolicy default allow", 3, "already set on line 1"),
    ("allow\talice\t*\t*\t*", 1, "neither a caller id"),
    ("allow\t/^user=(a/\t*\t*\t*", 1, "not a valid regular expression"),
    ("allow\tuser=a\tsto-p\t*\t*", 1, "not an action name"),
    ("allow\tuser=a\t*\tcountry\t*", 1, "no operator"),
    ("allow\tuser=a\t*\t(country=uk and\t*", 1, "cannot end with"),
    ("# ok\nallow\tuser=a\t*\tcountry=uk and (\n", 2, "unclosed"),
    ("allow user=a\t*\t*\t*", 1, "TAB after"),
])
def test_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        parse_policy(text, "/etc/p/svc.policy")
    assert info.value.line == line
    assert str(info.value).startswith(f"/etc/p/svc.policy:{line}: ")


def test_groups_file(caplog: pytest.LogCaptureFixture) -> None:
    groups = parse_groups("# admins\nadmins user=root user=alice\n\nempty\n", "groups")
    assert groups == {"admins": frozenset({"user=root", "user=alice"}), "empty": frozenset()}
    # Bare members: both upstream implementations take them as written and compare them
    # exactly, so they load (with a warning saying what they can match).
    with caplog.at_level(logging.WARNING, logger="mcollective.actionpolicy"):
        bare = parse_groups("ok user=a\nbare alice /^choria=.+\\.ops$/\n", "groups")
    assert bare["bare"] == frozenset({"alice", "/^choria=.+\\.ops$/"})
    assert "groups:2: group 'bare': member 'alice' is not a caller id" in caplog.text
    assert "/^choria" not in caplog.text
    with pytest.raises(PolicyError, match=r"groups:1: group 'g': member '/\(/' is not a valid "
                       "regular expression"):
        parse_groups("g /(/\n", "groups")
    with pytest.raises(PolicyError, match="already defined on line 1"):
        parse_groups("a user=x\na user=y\n", "groups")
    with pytest.raises(PolicyError, match="invalid group name"):
        parse_groups("user=x user=y\n", "groups")


def test_regular_expression_callers() -> None:
    # Ruby actionpolicy and go-choria: a caller between slashes is a regular expression,
    # searched in the caller id (anchor it to match the whole id).
    text = ("policy default deny\n"
            "allow\t/^choria=.+\\.ops\\.mcollective$/ user=root\tstatus\t*\t*\n"
            "allow\t/admin/\t*\t*\t*\n")
    assert decide(text, "choria=bob.ops.mcollective", "status") is True
    assert decide(text, "choria=bob.ops.mcollective", "stop") is False
    assert decide(text, "choria=bob.dev.mcollective", "status") is False
    assert decide(text, "user=root", "status") is True
    assert decide(text, "user=sysadmin", "stop") is True  # searched, not anchored
    assert decide(text, "user=alice", "status") is False


def test_groups_with_bare_and_regex_members() -> None:
    groups = parse_groups("ops /^choria=.+\\.ops$/ alice user=carol\n", "groups")
    text = "policy default deny\nallow\tops\t*\t*\t*\n"
    assert decide(text, "choria=bob.ops", "x", groups=groups) is True
    assert decide(text, "user=carol", "x", groups=groups) is True
    assert decide(text, "alice", "x", groups=groups) is True  # exact, as upstream
    assert decide(text, "user=alice", "x", groups=groups) is False
