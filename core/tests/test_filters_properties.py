"""Properties: hostile input raises only FilterSyntaxError, never anything else, and
valid expressions survive the trip through the wire form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcollective.errors import FilterSyntaxError
from mcollective.filters import (
    Filter,
    Node,
    describe,
    expr_from_wire,
    parse_compound,
    parse_fact_filter,
)

# Random patterns such as "[[" make re warn about future syntax; that is not a failure.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SETTINGS = settings(max_examples=400, deadline=2000,
                    suppress_health_check=[HealthCheck.too_slow])

# --- text ------------------------------------------------------------------------------

_PIECES = ["and", "or", "not", "!", "&&", "||", "(", ")", " ", "  ", "a", "os", "os.family",
           "=", "==", "!=", "<", ">", "<=", ">=", "=~", "!~", "=>", "=<", "/", "/x/", "'",
           '"', "\\", "'q'", '"q"', "fstat(", "fact('x')", ".size", ".", ",", "1", "-1",
           "0x9e", "1.5e2", "true", "[", "(?i)", "~", "$", "::", "web1"]

filter_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="()!&|'\"/\\=<>~ .,aonotdx01-", max_size=60),
    st.lists(st.sampled_from(_PIECES), max_size=25).map("".join),
    st.lists(st.sampled_from(_PIECES), max_size=25).map(" ".join),
)


@SETTINGS
@given(filter_text)
def test_parse_compound_raises_only_filter_syntax_error(text: str) -> None:
    try:
        expr = parse_compound(text)
    except FilterSyntaxError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
        return
    wire = json.loads(json.dumps(expr.to_wire()))
    assert expr_from_wire(wire) == expr
    flt = Filter(compound=[expr])
    flt.matches(Node("n", {"os": "x", "a": 1}, ["a"], ["rpcutil"],
                     data=lambda name, query: {"size": 1, "value": "x"}))
    assert describe(flt)


@SETTINGS
@given(filter_text)
def test_parse_fact_filter_raises_only_filter_syntax_error(text: str) -> None:
    try:
        flt = parse_fact_filter(text)
    except FilterSyntaxError:
        return
    assert parse_fact_filter(str(flt)) == flt or flt.value[0] in " "
    Filter(facts=[flt]).matches(Node("n", {flt.fact: ["x", 1, {"k": True}]}))


@SETTINGS
@given(st.lists(filter_text, max_size=3))
def test_build_with_raises_only_filter_syntax_error(words: list[str]) -> None:
    try:
        Filter.build(with_=words)
    except FilterSyntaxError:
        pass


# --- wire ------------------------------------------------------------------------------

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        st.text(max_size=12), st.sampled_from(
                            ["/x/", "/(/", "//", "==", "=~", "!~", ">", "a", ""]))
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8) | st.sampled_from(
        ["and", "or", "not", "class", "fact", "operator", "value", "data", "query",
         "output"]), children, max_size=4),
    max_leaves=30,
)
_KEYS = ["fact", "cf_class", "puppet_class", "agent", "identity", "compound"]

# expression-shaped JSON: mostly the right keys, with wrong types mixed in
expr_like = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"class": json_scalar}),
        st.fixed_dictionaries({"fact": json_scalar, "operator": json_scalar,
                               "value": json_scalar}),
        st.fixed_dictionaries({"data": json_scalar}, optional={
            "query": json_scalar, "output": json_scalar, "operator": json_scalar,
            "value": json_scalar}),
        json_value,
    ),
    lambda children: st.one_of(
        st.fixed_dictionaries({"and": st.lists(children, max_size=4)}),
        st.fixed_dictionaries({"or": st.lists(children, max_size=4)}),
        st.fixed_dictionaries({"not": children}),
    ),
    max_leaves=20,
)
filter_like = st.one_of(
    json_value,
    st.dictionaries(st.sampled_from(_KEYS), st.lists(json_scalar, max_size=4) | json_value,
                    max_size=6),
    st.fixed_dictionaries({}, optional={
        "fact": st.lists(st.fixed_dictionaries(
            {"fact": json_scalar, "operator": st.sampled_from(
                ["==", "!=", "<", ">", "<=", ">=", "=~", "!~", "="]), "value": json_scalar}),
            max_size=3),
        "cf_class": st.lists(json_scalar, max_size=3),
        "agent": st.lists(json_scalar, max_size=3),
        "identity": st.lists(json_scalar, max_size=3),
        "compound": st.lists(expr_like, max_size=3),
    }),
)

NODE = Node("web1", {"os": "Debian", "n": 5, "l": [1, "a"], "h": {"k": 1}},
            ["a", "apache"], ["rpcutil"], data=lambda name, query: {"value": 1, "size": "2"})


@SETTINGS
@given(filter_like)
def test_from_dict_raises_only_filter_syntax_error(wire: Any) -> None:
    try:
        flt = Filter.from_dict(wire)
    except FilterSyntaxError:
        return
    assert isinstance(flt.matches(NODE), bool)
    again = Filter.from_dict(json.loads(json.dumps(flt.to_dict())))
    assert again == flt
    assert describe(flt)


@SETTINGS
@given(expr_like)
def test_expr_from_wire_raises_only_filter_syntax_error(wire: Any) -> None:
    try:
        expr = expr_from_wire(wire)
    except FilterSyntaxError:
        return
    assert expr_from_wire(expr.to_wire()) == expr


# --- generated valid expressions ---------------------------------------------------------

_names = st.sampled_from(["apache", "base", "os", "mem", "os.family", "role::web"])
_values = st.sampled_from(["Debian", "5", "-1", "9.5", "'Red Hat'", '"a b"', "/^D/", "x"])
_ops = st.sampled_from(["=", "==", "!=", "<", ">", "<=", ">=", "=>", "=<", "=~", "!~"])


@st.composite
def statements(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(_names)
    if kind == 1:
        return "/^a/"
    op = draw(_ops)
    value = draw(_values)
    if value.startswith("/") and op not in ("=", "==", "!=", "=~", "!~"):
        value = "5"
    if kind == 2:
        return f"{draw(_names)}{draw(st.sampled_from(['', ' ']))}{op}{value}"
    return f"fstat('/etc/hosts').size{op}{value}"


expressions = st.recursive(
    statements(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " or ", " && ", " || "]), inner).map(
            "".join),
        inner.map(lambda e: f"not {e}"),
        inner.map(lambda e: f"!{e}"),
        inner.map(lambda e: f"({e})"),
    ),
    max_leaves=12,
)


@SETTINGS
@given(expressions)
def test_valid_expressions_parse_and_round_trip(text: str) -> None:
    expr = parse_compound(text)
    assert expr_from_wire(json.loads(json.dumps(expr.to_wire()))) == expr
    flt = Filter(compound=[expr])
    result = flt.matches(NODE)
    assert Filter.from_dict(flt.to_dict()).matches(NODE) is result
