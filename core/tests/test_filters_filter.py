"""The whole filter: classes, agents, identities, combination, wire form, builders,
identity short-cut and descriptions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcollective.errors import FilterSyntaxError
from mcollective.filters import FactFilter, Filter, Node, describe, parse_compound
from mcollective.message import FILTER_KEYS, empty_filter

NODE = Node(
    identity="web1.example.com",
    facts={"os": "Debian", "mem": 2048, "osinfo": {"family": "Debian"}},
    classes=["apache", "base", "role::web"],
    agents=["rpcutil", "discovery", "package"],
    collectives=["mcollective", "dev"],
)

# --- classes, agents, identities ------------------------------------------------------------

NAME_CASES = [
    # id, wire filter, expected
    ("class", {"cf_class": ["apache"]}, True),
    ("class-exact-only", {"cf_class": ["apach"]}, False),
    ("class-case", {"cf_class": ["Apache"]}, False),
    ("class-regex", {"cf_class": ["/^role::/"]}, True),
    ("class-regex-unanchored", {"cf_class": ["/pach/"]}, True),
    ("class-regex-miss", {"cf_class": ["/^db/"]}, False),
    ("class-regex-interior-slash", {"cf_class": ["/role::\\/?web/"]}, True),
    ("class-all-must-pass", {"cf_class": ["apache", "base"]}, True),
    ("class-all-must-pass-miss", {"cf_class": ["apache", "mysql"]}, False),
    ("puppet-class-old-name", {"puppet_class": ["apache"]}, True),
    ("puppet-class-old-name-miss", {"puppet_class": ["mysql"]}, False),
    ("agent", {"agent": ["package"]}, True),
    ("agent-miss", {"agent": ["service"]}, False),
    ("agent-regex", {"agent": ["/^pack/"]}, True),
    ("agent-regex-miss", {"agent": ["/^serv/"]}, False),
    ("agent-mcollective-always", {"agent": ["mcollective"]}, True),
    ("agent-all-must-pass", {"agent": ["package", "service"]}, False),
    ("identity", {"identity": ["web1.example.com"]}, True),
    ("identity-miss", {"identity": ["web2.example.com"]}, False),
    ("identity-no-substring", {"identity": ["web1"]}, False),
    ("identity-regex", {"identity": ["/^web\\d/"]}, True),
    ("identity-regex-unanchored", {"identity": ["/example/"]}, True),
    ("identity-regex-miss", {"identity": ["/^db/"]}, False),
    ("identity-any-of", {"identity": ["db1", "web1.example.com"]}, True),
    ("identity-any-of-none", {"identity": ["db1", "db2"]}, False),
    ("identity-two-entries-both-match", {"identity": ["web1.example.com", "/web/"]}, True),
    ("identity-regex-any-of", {"identity": ["/^db/", "/^web/"]}, True),
    ("identity-duplicate", {"identity": ["web1.example.com", "web1.example.com"]}, True),
]


@pytest.mark.parametrize(("wire", "expected"), [c[1:] for c in NAME_CASES],
                         ids=[c[0] for c in NAME_CASES])
def test_name_filters(wire: dict[str, Any], expected: bool) -> None:
    assert Filter.from_dict(wire).matches(NODE) is expected


def test_classes_and_agents_may_be_sets() -> None:
    node = Node("n", classes={"apache"}, agents=frozenset({"package"}))
    assert Filter.from_dict({"cf_class": ["apache"], "agent": ["/pack/"]}).matches(node)


def test_node_defaults() -> None:
    node = Node("n")
    assert dict(node.facts) == {} and node.classes == () and node.data is None
    assert Filter.from_dict({}).matches(node)
    assert not Filter.build(facts=["a=b"], classes=["x"]).matches(node)


# --- combination --------------------------------------------------------------------

COMBINED = [
    ("all-pass", {"fact": [{"fact": "os", "operator": "==", "value": "Debian"}],
                  "cf_class": ["apache"], "agent": ["package"],
                  "identity": ["/web/"], "compound": [{"class": "base"}]}, True),
    ("fact-fails", {"fact": [{"fact": "os", "operator": "==", "value": "RedHat"}],
                    "cf_class": ["apache"]}, False),
    ("class-fails", {"fact": [{"fact": "os", "operator": "==", "value": "Debian"}],
                     "cf_class": ["mysql"]}, False),
    ("agent-fails", {"cf_class": ["apache"], "agent": ["service"]}, False),
    ("identity-fails", {"cf_class": ["apache"], "identity": ["db1"]}, False),
    ("compound-fails", {"cf_class": ["apache"], "compound": [{"class": "mysql"}]}, False),
    ("identities-or-but-rest-and", {"identity": ["db1", "/web/"], "agent": ["package"]}, True),
]


@pytest.mark.parametrize(("wire", "expected"), [c[1:] for c in COMBINED],
                         ids=[c[0] for c in COMBINED])
def test_combination(wire: dict[str, Any], expected: bool) -> None:
    assert Filter.from_dict(wire).matches(NODE) is expected


# --- empty filters -----------------------------------------------------------------------

EMPTY = [
    ("braces", {}),
    ("all-five-empty", empty_filter()),
    ("some-keys-missing", {"fact": [], "identity": []}),
    ("one-key", {"compound": []}),
    ("nulls", {"fact": None, "cf_class": None, "agent": None, "identity": None,
               "compound": None}),
    ("old-class-name", {"puppet_class": []}),
]


@pytest.mark.parametrize("wire", [c[1] for c in EMPTY], ids=[c[0] for c in EMPTY])
def test_empty_filters_match_every_node(wire: dict[str, Any]) -> None:
    flt = Filter.from_dict(wire)
    assert flt.is_empty()
    assert flt.matches(NODE)
    assert flt.matches(Node("anything"))
    assert flt.to_dict() == empty_filter()


def test_only_mcollective_agent_is_not_empty_but_matches_everything() -> None:
    flt = Filter.from_dict({"agent": ["mcollective"]})
    assert not flt.is_empty()
    assert flt.matches(Node("x"))


# --- malformed wire filters ------------------------------------------------------------------

MALFORMED: list[tuple[str, Any]] = [
    ("not-object", []),
    ("string", "fact=x"),
    ("null", None),
    ("unknown-key", {"facts": []}),
    ("list-is-string", {"cf_class": "apache"}),
    ("list-is-object", {"identity": {"a": 1}}),
    ("class-entry-number", {"cf_class": [1]}),
    ("class-entry-null", {"cf_class": [None]}),
    ("class-entry-empty", {"cf_class": [""]}),
    ("class-half-regex", {"cf_class": ["/apache"]}),
    ("class-bad-regex", {"cf_class": ["/ap(/"]}),
    ("class-empty-regex", {"cf_class": ["//"]}),
    ("agent-bad-regex", {"agent": ["/[/"]}),
    ("identity-entry-list", {"identity": [["a"]]}),
    ("identity-bad-regex", {"identity": ["/(?P<x/"]}),
    ("fact-entry-string", {"fact": ["os=Debian"]}),
    ("fact-entry-missing-key", {"fact": [{"fact": "os", "value": "x"}]}),
    ("fact-entry-bad-operator", {"fact": [{"fact": "os", "operator": "=", "value": "x"}]}),
    ("fact-entry-bad-regex", {"fact": [{"fact": "os", "operator": "=~", "value": "("}]}),
    ("compound-original-callstack", {"compound": [[{"statement": "apache"}]]}),
    ("compound-string", {"compound": ["apache and base"]}),
    ("compound-bad-node", {"compound": [{"xor": []}]}),
    ("regex-repeat-overflow", {"cf_class": ["/a{99999999999999999999}/"]}),
    ("regex-deep-nesting", {"cf_class": ["/" + "(" * 5000 + ")" * 5000 + "/"]}),
]


@pytest.mark.parametrize("wire", [c[1] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_wire_filters_are_rejected(wire: Any) -> None:
    with pytest.raises(FilterSyntaxError):
        Filter.from_dict(wire)


def test_malformed_messages_are_clear() -> None:
    with pytest.raises(FilterSyntaxError, match="unknown filter key 'facts'"):
        Filter.from_dict({"facts": []})
    with pytest.raises(FilterSyntaxError, match="'cf_class' must be a list"):
        Filter.from_dict({"cf_class": "apache"})
    with pytest.raises(FilterSyntaxError, match="starts with '/'"):
        Filter.from_dict({"identity": ["/web"]})


# --- round trips -----------------------------------------------------------------------------

ROUND_TRIPS = [
    ("empty", {}),
    ("everything", {
        "fact": [{"fact": "os", "operator": "==", "value": "Debian"},
                 {"fact": "mem", "operator": ">=", "value": "1024"},
                 {"fact": "os", "operator": "=~", "value": "/Deb/"}],
        "cf_class": ["apache", "/^role/"], "agent": ["package", "mcollective"],
        "identity": ["web1", "/^db/"],
        "compound": [parse_compound("a and (b or not fstat('/x').size>5)").to_wire(),
                     parse_compound("os.family=Debian").to_wire()],
    }),
    ("puppet-class", {"puppet_class": ["apache"]}),
]


@pytest.mark.parametrize("wire", [c[1] for c in ROUND_TRIPS], ids=[c[0] for c in ROUND_TRIPS])
def test_wire_round_trip(wire: dict[str, Any]) -> None:
    flt = Filter.from_dict(wire)
    again = Filter.from_dict(json.loads(json.dumps(flt.to_dict())))
    assert again == flt
    assert again.to_dict() == flt.to_dict()
    assert set(flt.to_dict()) == set(FILTER_KEYS)
    assert again.matches(NODE) == flt.matches(NODE)


def test_to_dict_returns_fresh_lists() -> None:
    flt = Filter.build(classes=["apache"])
    flt.to_dict()["cf_class"].append("x")
    assert flt.to_dict()["cf_class"] == ["apache"]


def test_filters_are_not_hashable_but_comparable() -> None:
    assert Filter.build(classes=["a"]) == Filter.build(classes=["a"])
    assert Filter.build(classes=["a"]) != Filter.build(classes=["b"])
    assert Filter.build(classes=["a"]) != {"cf_class": ["a"]}
    with pytest.raises(TypeError):
        hash(Filter())


def test_repr_names_what_is_set() -> None:
    assert repr(Filter.build(classes=["a"])) == "Filter(cf_class=['a'])"


# --- builders ---------------------------------------------------------------------------

def test_build_from_options() -> None:
    flt = Filter.build(facts=["os=Debian", FactFilter("mem", ">", "1")], classes=["apache"],
                       agents=["package"], identities=["web1", "/^db/"],
                       compound=["a or b", parse_compound("c")])
    assert flt.to_dict() == {
        "fact": [{"fact": "os", "operator": "==", "value": "Debian"},
                 {"fact": "mem", "operator": ">", "value": "1"}],
        "cf_class": ["apache"], "agent": ["package"], "identity": ["web1", "/^db/"],
        "compound": [{"or": [{"class": "a"}, {"class": "b"}]}, {"class": "c"}],
    }


WITH = [
    # id, -W strings, facts, classes
    ("class", ["apache"], [], ["apache"]),
    ("fact", ["os=Debian"], [("os", "==", "Debian")], []),
    ("mixed", ["apache os=Debian  mem>=10 base"],
     [("os", "==", "Debian"), ("mem", ">=", "10")], ["apache", "base"]),
    ("several-strings", ["apache", "os!=x"], [("os", "!=", "x")], ["apache"]),
    ("regex-class", ["/^role/"], [], ["/^role/"]),
    ("regex-fact", ["os=/Deb/"], [("os", "=~", "/Deb/")], []),
    ("alias", ["mem=>10"], [("mem", ">=", "10")], []),
    ("empty", [""], [], []),
]


@pytest.mark.parametrize(("with_", "facts", "classes"), [c[1:] for c in WITH],
                         ids=[c[0] for c in WITH])
def test_build_with(with_: list[str], facts: list[tuple[str, str, str]],
                    classes: list[str]) -> None:
    flt = Filter.build(with_=with_)
    assert [(f.fact, f.operator, f.value) for f in flt.facts] == facts
    assert list(flt.classes) == classes


@pytest.mark.parametrize("word", ["os=", "=x", "a<=>b", "os=~/(/"])
def test_build_with_rejects_broken_fact_words(word: str) -> None:
    # a word with an operator character is never a class name: report the fact error
    with pytest.raises(FilterSyntaxError):
        Filter.build(with_=[word])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"facts": ["os"]}, "no operator"),
    ({"classes": ["/x"]}, "starts with '/'"),
    ({"classes": [""]}, "empty class"),
    ({"agents": ["/(/"]}, "invalid regular expression"),
    ({"identities": ["//"]}, "empty regular expression"),
    ({"compound": ["a and"]}, "cannot end"),
])
def test_build_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        Filter.build(**kwargs)


def test_constructor_requires_fact_filters() -> None:
    with pytest.raises(FilterSyntaxError):
        Filter(facts=["os=Debian"])  # type: ignore[list-item]
    with pytest.raises(FilterSyntaxError):
        Filter(compound=["apache"])  # type: ignore[list-item]


def test_with_agent() -> None:
    flt = Filter.build(identities=["web1"])
    with_rpcutil = flt.with_agent("rpcutil")
    assert with_rpcutil.agents == ("rpcutil",)
    assert with_rpcutil.with_agent("rpcutil") is with_rpcutil
    assert flt.agents == ()


# --- identity short-cut -------------------------------------------------------------------

LITERAL = [
    ("literal", {"identity": ["a", "b", "a"]}, False, ("a", "b")),
    ("regex", {"identity": ["a", "/b/"]}, False, None),
    ("no-identities", {}, False, None),
    ("with-fact", {"identity": ["a"], "fact": [{"fact": "x", "operator": "==", "value": "y"}]},
     False, None),
    ("with-class", {"identity": ["a"], "cf_class": ["x"]}, False, None),
    ("with-compound", {"identity": ["a"], "compound": [{"class": "x"}]}, False, None),
    ("with-agent", {"identity": ["a"], "agent": ["rpcutil"]}, False, None),
    ("with-agent-ignored", {"identity": ["a"], "agent": ["rpcutil"]}, True, ("a",)),
]


@pytest.mark.parametrize(("wire", "ignore_agents", "expected"), [c[1:] for c in LITERAL],
                         ids=[c[0] for c in LITERAL])
def test_literal_identities(wire: dict[str, Any], ignore_agents: bool,
                            expected: tuple[str, ...] | None) -> None:
    assert Filter.from_dict(wire).literal_identities(ignore_agents=ignore_agents) == expected


# --- describe -------------------------------------------------------------------------------

DESCRIBE = [
    ("empty", Filter(), ["matches every node"]),
    ("fact", Filter.build(facts=["os=Debian"]), ["fact 'os' equals 'Debian'"]),
    ("fact-ops", Filter.build(facts=["a!=1", "b<2", "c>3", "d<=4", "e=>5", "f=/x/", "g!~y"]),
     ["fact 'a' does not equal '1'", "fact 'b' is less than '2'",
      "fact 'c' is greater than '3'", "fact 'd' is less than or equal to '4'",
      "fact 'e' is greater than or equal to '5'", "fact 'f' matches /x/",
      "fact 'g' does not match /y/"]),
    ("class", Filter.build(classes=["apache", "/^web/"]),
     ["has class 'apache'", "has a class matching /^web/"]),
    ("agent", Filter.build(agents=["package", "/^s/", "mcollective"]),
     ["has agent 'package'", "has an agent matching /^s/",
      "has agent 'mcollective' (always true)"]),
    ("identity", Filter.build(identities=["web1", "/^db/"]),
     ["identity is 'web1' or matches /^db/"]),
    ("compound-alone", Filter.build(compound=["a or (b and not c)"]),
     ["has class 'a'", "or (", "  has class 'b'", "  and not has class 'c'", ")"]),
    ("compound-first-group", Filter.build(compound=["(a or b) and c"]),
     ["(", "  has class 'a'", "  or has class 'b'", ")", "and has class 'c'"]),
    ("compound-not-group", Filter.build(compound=["not (a or b)"]),
     ["not (", "  has class 'a'", "  or has class 'b'", ")"]),
    ("compound-nested", Filter.build(compound=["a and (b or (c and d))"]),
     ["has class 'a'", "and (", "  has class 'b'", "  or (", "    has class 'c'",
      "    and has class 'd'", "  )", ")"]),
    ("compound-with-others", Filter.build(classes=["x"], compound=["a or b"]),
     ["has class 'x'", "(", "  has class 'a'", "  or has class 'b'", ")"]),
    ("compound-statement-with-others", Filter.build(classes=["x"], compound=["a"]),
     ["has class 'x'", "has class 'a'"]),
    ("data", Filter.build(compound=["fstat('/etc/hosts').size>100", "collective('dev').member",
                                    "fact('os')=x"]),
     ["data fstat('/etc/hosts').size is greater than '100'",
      "data collective('dev').member is true",
      "data fact('os') (default output) equals 'x'"]),
]


@pytest.mark.parametrize(("flt", "lines"), [c[1:] for c in DESCRIBE], ids=[c[0] for c in DESCRIBE])
def test_describe(flt: Filter, lines: list[str]) -> None:
    assert describe(flt) == lines


def test_describe_accepts_the_wire_form() -> None:
    assert describe({"cf_class": ["apache"]}) == ["has class 'apache'"]
    assert describe({}) == ["matches every node"]
