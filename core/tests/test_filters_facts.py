"""Fact filters: the -F syntax and how facts are matched on a node."""

from __future__ import annotations

from typing import Any

import pytest

from mcollective.errors import FilterSyntaxError
from mcollective.filters import FactFilter, Filter, Node, parse_fact_filter

# --- parsing -F -----------------------------------------------------------------------

PARSE_OK = [
    # text, fact, operator, value
    ("os=Debian", "os", "==", "Debian"),
    ("os==Debian", "os", "==", "Debian"),
    ("os!=Debian", "os", "!=", "Debian"),
    ("mem<10", "mem", "<", "10"),
    ("mem>10", "mem", ">", "10"),
    ("mem<=10", "mem", "<=", "10"),
    ("mem>=10", "mem", ">=", "10"),
    ("os=~Deb", "os", "=~", "Deb"),
    ("os=~/Deb/", "os", "=~", "/Deb/"),
    ("os=/Deb/", "os", "=~", "/Deb/"),
    ("os!~/Deb/", "os", "!~", "/Deb/"),
    ("mem=>10", "mem", ">=", "10"),
    ("mem=<10", "mem", "<=", "10"),
    ("mem => 10", "mem", ">=", "10"),
    ("mem =< 10", "mem", "<=", "10"),
    ("os = Debian", "os", "==", "Debian"),
    ("os == Red Hat", "os", "==", "Red Hat"),
    ("  os=Debian  ", "os", "==", "Debian"),
    ("os.family=Debian", "os.family", "==", "Debian"),
    ("os=/a\\/b/", "os", "=~", "/a\\/b/"),
    ("path=/usr/local", "path", "==", "/usr/local"),  # not /re/: no trailing slash
    ("root=/", "root", "==", "/"),
    ("os!=/Deb/", "os", "!=", "/Deb/"),  # -F != is always literal (use !~)
    ("v=-1", "v", "==", "-1"),
    ("v>-1.5", "v", ">", "-1.5"),
    ("v==a=b", "v", "==", "a=b"),
    ("v=!x", "v", "==", "!x"),
]


@pytest.mark.parametrize(("text", "fact", "op", "value"), PARSE_OK,
                         ids=[case[0] for case in PARSE_OK])
def test_parse_fact_filter(text: str, fact: str, op: str, value: str) -> None:
    parsed = parse_fact_filter(text)
    assert (parsed.fact, parsed.operator, parsed.value) == (fact, op, value)
    assert parsed.to_dict() == {"fact": fact, "operator": op, "value": value}


PARSE_ERRORS = [
    # text, position (None: no caret), message fragment
    ("os", None, "no operator"),
    ("", None, "no operator"),
    ("=Debian", 0, "no fact name"),
    ("  =Debian", 2, "no fact name"),
    ("os=", 3, "no value"),
    ("os==", 4, "no value"),
    ("os=~", 4, "no value"),
    ("os=  ", 5, "no value"),
    ("o s=x", 1, "contains a space"),
    ("os!x", 2, "unknown operator"),
    ("os~x", 2, "unknown operator"),
    ("a<=>b", 3, "malformed operator"),
    ("a===b", 3, "malformed operator"),
    ("a=<>b", 3, "malformed operator"),
    ("os=~/(/", 4, "invalid regular expression"),
    ("os=//", 3, "empty regular expression"),
]


@pytest.mark.parametrize(("text", "position", "message"), PARSE_ERRORS,
                         ids=[repr(case[0]) for case in PARSE_ERRORS])
def test_parse_fact_filter_errors(text: str, position: int | None, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message) as info:
        parse_fact_filter(text)
    assert info.value.position == position


def test_parse_fact_filter_rejects_non_strings() -> None:
    with pytest.raises(FilterSyntaxError):
        parse_fact_filter(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [
    {"fact": "", "operator": "==", "value": "x"},
    {"fact": "a", "operator": "=", "value": "x"},
    {"fact": "a", "operator": "=>", "value": "x"},
    {"fact": "a", "operator": "=~", "value": "("},
    {"fact": "a", "operator": "==", "value": None},
    {"fact": "a", "operator": "=="},
    {"fact": "a", "operator": "==", "value": "x", "extra": 1},
    {"fact": 1, "operator": "==", "value": "x"},
    {"fact": "a", "operator": 1, "value": "x"},
    {"fact": "a", "operator": "==", "value": ["x"]},
    ["a", "==", "x"],
], ids=lambda b: repr(b))
def test_fact_entry_from_dict_rejects(bad: Any) -> None:
    with pytest.raises(FilterSyntaxError):
        FactFilter.from_dict(bad)


@pytest.mark.parametrize(("value", "expected"), [
    (10, "10"), (2.5, "2.5"), (True, "true"), (False, "false"), ("x", "x"),
])
def test_fact_entry_values_are_stringified(value: Any, expected: str) -> None:
    assert FactFilter.from_dict({"fact": "a", "operator": "==", "value": value}).value == expected


def test_fact_filter_constructor_validates() -> None:
    with pytest.raises(FilterSyntaxError, match="unknown fact operator"):
        FactFilter("a", "~=", "b")
    assert str(FactFilter("a", "=~", "/x/")) == "a=~/x/"


# --- matching ---------------------------------------------------------------------------

FACTS: dict[str, Any] = {
    "os": "Debian",
    "kernel": "Linux",
    "osfamily": "RedHat",
    "empty": "",
    "int10": 10,
    "float95": 9.5,
    "neg": -1,
    "s10": "10",
    "s95": "9.5",
    "sneg1": "-1",
    "s01": "01",
    "version": "2.6.10",
    "release": "5.10",
    "yes": True,
    "no": False,
    "nothing": None,
    "ips": ["10.0.0.1", "192.168.1.1"],
    "ports": [22, 80, 443],
    "nested_list": [["a", "b"], ["c"]],
    "hash": {"eth0": {"ip": "10.0.0.1"}, "lo": {"ip": "127.0.0.1"}},
    "os.family": "Literal",  # a literal dotted key wins over walking
    "osinfo": {"family": "Debian", "release": {"major": "12", "full": "12.5"},
               "list": [{"name": "first"}, {"name": "second"}]},
    "dotted": {"a.b": "inner-literal", "a": {"b": "walked"}},
    "os2": {"family": "Debian"},
    "hexish": "0x10",
    "expo": "1e3",
    "serial": "12e4",
    "big": 12345678901234567890,
    "mixed": ["x", 5, True, None],
}

MATCH = [
    # id, -F text, expected
    # == and =
    ("eq", "os=Debian", True),
    ("eq-double", "os==Debian", True),
    ("eq-miss", "os=debian", False),  # case-sensitive
    ("eq-int-fact", "int10==10", True),
    ("eq-int-vs-float-text", "int10==10.0", True),  # numeric: the fact is a number
    ("eq-float-fact", "float95==9.50", True),
    ("eq-string-fact-stays-string", "s10==10.0", False),
    ("eq-string-version-like", "release==5.1", False),  # "5.10" is not "equal" to 5.1
    ("eq-leading-zero", "s01==1", False),
    ("eq-bool-true", "yes==true", True),
    ("eq-bool-True", "yes==True", False),
    ("eq-bool-false", "no==false", True),
    ("eq-bool-not-1", "yes==1", False),
    ("eq-hex-against-number", "int10==0xa", True),
    ("eq-hex-against-string", "s10==0xa", False),
    ("eq-neg", "neg==-1", True),
    ("eq-big-int", "big==12345678901234567890", True),
    # !=
    ("ne", "os!=Debian", False),
    ("ne-other", "os!=RedHat", True),
    ("ne-int", "int10!=10", False),
    ("ne-int-other", "int10!=11", True),
    ("ne-missing-is-false", "missing!=x", False),
    ("ne-null-is-false", "nothing!=x", False),
    ("ne-array-any", "ips!=10.0.0.1", True),  # the other element differs
    # ordering, numeric
    ("gt-int-float", "int10>9.5", True),
    ("gt-strings-numeric", "s10>9.5", True),
    ("gt-strings-numeric-reverse", "s95<10", True),
    ("lt-negative", "sneg1<-2", False),
    ("gt-negative", "sneg1>-2", True),
    ("lt-native-negative", "neg<-2", False),
    ("ge-equal", "int10>=10", True),
    ("le-equal", "int10<=10", True),
    ("le-alias", "int10=<10", True),
    ("ge-alias", "int10=>11", False),
    ("ge-float", "float95>=9.5", True),
    ("lt-float", "float95<9.49", False),
    ("gt-hex", "int10>0x9", True),
    ("gt-exponent-number-fact", "int10<1e3", True),
    ("gt-exponent-string-fact", "expo>999", False),  # "1e3" is no decimal: string order
    ("gt-serial-string", "serial>13", False),  # string order: "12e4" < "13"
    ("gt-leading-zero-numeric", "s01<2", True),
    # ordering, strings
    ("version-string-order", "version>2.6.9", False),  # documented: versions are text
    ("version-string-order-lt", "version<2.6.9", True),
    ("string-gt", "os>Alpha", True),
    ("string-lt", "os<Alpha", False),
    ("string-vs-number", "os>5", True),  # "Debian" > "5" as text
    ("bool-never-orders", "yes>a", False),
    ("bool-never-orders-lt", "yes<z", False),
    # regex
    ("re-eq", "os=/^Deb/", True),
    ("re-tilde", "os=~^Deb", True),
    ("re-tilde-slashes", "os=~/ian$/", True),
    ("re-unanchored", "os=~bia", True),
    ("re-case-sensitive", "os=~/debian/", False),
    ("re-inline-ignorecase", "os=~/(?i)debian/", True),
    ("re-not", "os!~/^Red/", True),
    ("re-not-matching", "os!~/^Deb/", False),
    ("re-number", "int10=~^1", True),
    ("re-bool", "yes=~^tr", True),
    ("re-interior-slash", "hash=~/eth\\/?0/", True),
    ("re-missing", "missing=~.", False),
    ("re-not-missing", "missing!~x", False),
    # arrays
    ("array-any", "ips=10.0.0.1", True),
    ("array-any-second", "ips=192.168.1.1", True),
    ("array-none", "ips=1.1.1.1", False),
    ("array-regex", "ips=/^192/", True),
    ("array-numeric", "ports>400", True),
    ("array-numeric-none", "ports>500", False),
    ("array-nested", "nested_list=c", True),
    ("array-mixed-bool", "mixed==true", True),
    ("array-mixed-number", "mixed==5.0", True),
    ("array-null-element-ignored", "mixed==None", False),
    # hashes: keys
    ("hash-key", "hash=eth0", True),
    ("hash-key-regex", "hash=~^l", True),
    ("hash-values-ignored", "hash=10.0.0.1", False),
    # dotted paths
    ("dotted-literal-wins", "os.family=Literal", True),
    ("dotted-literal-wins-no-walk", "os.family=Debian", False),
    ("dotted-walk", "osinfo.family=Debian", True),
    ("dotted-walk-deep", "osinfo.release.major=12", True),
    ("dotted-walk-numeric", "osinfo.release.full>12.1", True),
    ("dotted-walk-list-index", "osinfo.list.1.name=second", True),
    ("dotted-walk-list-index-out-of-range", "osinfo.list.2.name=second", False),
    ("dotted-walk-list-bad-index", "osinfo.list.x.name=first", False),
    ("dotted-walk-ends-on-hash", "osinfo.release=major", True),
    ("dotted-walk-into-scalar", "os.x=y", False),
    ("dotted-walk-missing", "osinfo.nope=x", False),
    ("dotted-nested-literal-wins", "dotted.a.b=inner-literal", True),
    ("dotted-nested-literal-not-walked", "dotted.a.b=walked", False),
    ("dotted-os2", "os2.family=Debian", True),
    # missing and empty
    ("missing-eq", "missing=x", False),
    ("missing-lt", "missing<1", False),
    ("missing-gt", "missing>1", False),
    ("null-eq", "nothing=None", False),
    ("empty-string-ne", "empty!=x", True),
    ("empty-string-lt", "empty<a", True),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in MATCH],
                         ids=[case[0] for case in MATCH])
def test_fact_matching(text: str, expected: bool) -> None:
    flt = Filter.build(facts=[text])
    assert flt.matches(Node("node1", FACTS)) is expected


def test_several_fact_filters_all_must_pass() -> None:
    node = Node("n", FACTS)
    assert Filter.build(facts=["os=Debian", "kernel=Linux"]).matches(node)
    assert not Filter.build(facts=["os=Debian", "kernel=Darwin"]).matches(node)


def test_wire_value_types_behave_like_text() -> None:
    flt = Filter.from_dict({"fact": [{"fact": "int10", "operator": ">", "value": 9.5}]})
    assert flt.matches(Node("n", FACTS))


def test_facts_can_be_any_mapping() -> None:
    from types import MappingProxyType

    node = Node("n", MappingProxyType({"os": {"family": "Debian"}}))
    assert Filter.build(facts=["os.family=Debian"]).matches(node)


def test_very_deep_array_facts_do_not_recurse_forever() -> None:
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    assert not Filter.build(facts=["deep=x"]).matches(Node("n", {"deep": deep}))
    shallow: Any = "x"
    for _ in range(5):
        shallow = [shallow]
    assert Filter.build(facts=["deep=x"]).matches(Node("n", {"deep": shallow}))


def test_long_dotted_paths_are_only_looked_up_literally() -> None:
    name = ".".join(["a"] * 100)
    assert Filter.build(facts=[f"{name}=x"]).matches(Node("n", {name: "x"}))
    assert not Filter.build(facts=[f"{name}=x"]).matches(Node("n", {"a": {"a": "x"}}))


def test_huge_numbers_are_compared_as_text() -> None:
    digits = "9" * 5000  # beyond int()'s default digit limit: must not raise
    assert Filter.build(facts=[f"a<{digits}"]).matches(Node("n", {"a": "1"}))
    assert Filter.build(facts=[f"a<{digits}"]).matches(Node("n", {"a": 1}))
