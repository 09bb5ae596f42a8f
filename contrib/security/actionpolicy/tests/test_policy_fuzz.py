"""Whatever a policy file holds, parsing either succeeds or raises PolicyError; a parsed
policy never raises while deciding."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mcollective.filters import Node
from mcollective_actionpolicy.policy import PolicyError, parse_groups, parse_policy

WORDS = st.sampled_from(["allow", "deny", "policy", "default", "*", "user=alice", "admins",
                         "status", "country=uk", "cpus>=4", "and", "or", "not", "!",
                         "(", ")", "apache", "/^a/", "=", "=~", "#", "x" * 3, ""])
LINE = st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=6).map(
    lambda words: "".join(w + sep for w, sep in zip(words, "\t \t\t  \t", strict=False)))
NODE = Node("n", facts={"country": "uk", "cpus": 8}, classes=["apache"])


@settings(max_examples=400, deadline=None)
@given(st.lists(LINE, max_size=8))
def test_parse_never_raises_anything_else(lines: list[str]) -> None:
    text = "\n".join(lines)
    try:
        policy = parse_policy(text, "fuzz.policy", {"admins": frozenset({"user=root"})})
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.policy")
        return
    for caller in ("user=alice", "user=root", "user=x"):
        policy.first_match(caller, "status", NODE)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_groups_parse_never_raises_anything_else(text: str) -> None:
    try:
        parse_groups(text, "groups")
    except PolicyError:
        pass
