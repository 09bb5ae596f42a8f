"""Compound (-S) expressions: parsing, syntax errors, wire form and evaluation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from mcollective.errors import FilterSyntaxError
from mcollective.filters import (
    MAX_DEPTH,
    And,
    ClassTest,
    DataTest,
    FactFilter,
    Filter,
    Node,
    Not,
    Or,
    expr_from_wire,
    parse_compound,
)

# --- parsing: text -> wire --------------------------------------------------------------

C = ClassTest


def F(fact: str, op: str, value: str) -> dict[str, str]:
    return {"fact": fact, "operator": op, "value": value}


PARSE_OK: list[tuple[str, str, Any]] = [
    # id, text, wire
    ("class", "apache", {"class": "apache"}),
    ("class-colons", "role::web", {"class": "role::web"}),
    ("class-regex", "/^web/", {"class": "/^web/"}),
    ("class-regex-escaped-slash", r"/a\/b/", {"class": r"/a\/b/"}),
    ("class-regex-parens", "/(a|b)c/", {"class": "/(a|b)c/"}),
    ("keyword-prefix-is-a-class", "android", {"class": "android"}),
    ("uppercase-keyword-is-a-class", "AND", {"class": "AND"}),
    ("fact-eq", "os=Debian", F("os", "==", "Debian")),
    ("fact-eqeq", "os==Debian", F("os", "==", "Debian")),
    ("fact-ne", "os!=Debian", F("os", "!=", "Debian")),
    ("fact-lt", "mem<5", F("mem", "<", "5")),
    ("fact-gt", "mem>5", F("mem", ">", "5")),
    ("fact-le", "mem<=5", F("mem", "<=", "5")),
    ("fact-ge", "mem>=5", F("mem", ">=", "5")),
    ("fact-alias-ge", "mem=>5", F("mem", ">=", "5")),
    ("fact-alias-le", "mem=<5", F("mem", "<=", "5")),
    ("fact-match-bare", "os=~Deb", F("os", "=~", "Deb")),
    ("fact-match-regex", "os=~/Deb/", F("os", "=~", "/Deb/")),
    ("fact-eq-regex", "os=/Deb/", F("os", "=~", "/Deb/")),
    ("fact-eqeq-regex", "os==/Deb/", F("os", "=~", "/Deb/")),
    ("fact-ne-regex", "os!=/Deb/", F("os", "!~", "/Deb/")),
    ("fact-notmatch", "os!~Deb", F("os", "!~", "Deb")),
    ("fact-spaces", "os = Debian", F("os", "==", "Debian")),
    ("fact-dotted", "os.family=Debian", F("os.family", "==", "Debian")),
    ("fact-negative", "temp>-5", F("temp", ">", "-5")),
    ("fact-single-quoted", "os='Red Hat'", F("os", "==", "Red Hat")),
    ("fact-double-quoted", 'os="Red Hat"', F("os", "==", "Red Hat")),
    ("fact-quote-escape", r"os='it\'s'", F("os", "==", "it's")),
    ("fact-backslash-escape", r"os='a\\b'", F("os", "==", "a\\b")),
    ("fact-other-backslash-kept", r"os='C:\temp'", F("os", "==", r"C:\temp")),
    ("fact-quoted-concat", "os='a b'\"c d\"e", F("os", "==", "a bc de")),
    ("fact-quoted-paren", "os='(x)'", F("os", "==", "(x)")),
    ("fact-quoted-equals", "os='a=b'", F("os", "==", "a=b")),
    ("fact-bare-equals-kept", "os=a=b", F("os", "==", "a=b")),
    ("fact-quoted-slashes-literal", "path=='/tmp/'", F("path", "==", "/tmp/")),
    ("fact-quoted-empty", "os==''", F("os", "==", "")),
    ("fact-quoted-regex", "os=~'^Red Hat'", F("os", "=~", "^Red Hat")),
    ("identity-is-a-fact", "identity=web1", F("identity", "==", "web1")),
    ("and", "a and b", {"and": [{"class": "a"}, {"class": "b"}]}),
    ("and-symbol", "a && b", {"and": [{"class": "a"}, {"class": "b"}]}),
    ("or-symbol", "a || b", {"or": [{"class": "a"}, {"class": "b"}]}),
    ("and-symbol-tight", "a&&b", {"and": [{"class": "a"}, {"class": "b"}]}),
    ("and-nary", "a and b and c", {"and": [{"class": "a"}, {"class": "b"}, {"class": "c"}]}),
    ("or", "a or b", {"or": [{"class": "a"}, {"class": "b"}]}),
    ("not", "not a", {"not": {"class": "a"}}),
    ("bang", "!a", {"not": {"class": "a"}}),
    ("bang-space", "! a", {"not": {"class": "a"}}),
    ("not-not", "not not a", {"not": {"not": {"class": "a"}}}),
    ("not-paren", "not(a)", {"not": {"class": "a"}}),
    ("precedence-and-over-or", "a or b and c",
     {"or": [{"class": "a"}, {"and": [{"class": "b"}, {"class": "c"}]}]}),
    ("precedence-and-over-or-2", "a and b or c",
     {"or": [{"and": [{"class": "a"}, {"class": "b"}]}, {"class": "c"}]}),
    ("precedence-not-over-and", "not a and b",
     {"and": [{"not": {"class": "a"}}, {"class": "b"}]}),
    ("parens", "(a or b) and c",
     {"and": [{"or": [{"class": "a"}, {"class": "b"}]}, {"class": "c"}]}),
    ("not-group", "!(a or b)", {"not": {"or": [{"class": "a"}, {"class": "b"}]}}),
    ("redundant-parens", "((a))", {"class": "a"}),
    ("paren-fact-tight", "(os=x)", F("os", "==", "x")),
    ("fn", "fstat('/etc/hosts').size>100",
     {"data": "fstat", "query": "/etc/hosts", "output": "size", "operator": ">",
      "value": "100"}),
    ("fn-double-quotes", 'fstat("/etc/hosts").size > 100',
     {"data": "fstat", "query": "/etc/hosts", "output": "size", "operator": ">",
      "value": "100"}),
    ("fn-eq", "fact('os.family').value=RedHat",
     {"data": "fact", "query": "os.family", "output": "value", "operator": "==",
      "value": "RedHat"}),
    ("fn-regex", "fact('os.family').value=/RedHat/",
     {"data": "fact", "query": "os.family", "output": "value", "operator": "=~",
      "value": "/RedHat/"}),
    ("fn-ne-regex", "fact('os.family').value!=/RedHat/",
     {"data": "fact", "query": "os.family", "output": "value", "operator": "!~",
      "value": "/RedHat/"}),
    ("fn-no-accessor", "fact('os.family')=RedHat",
     {"data": "fact", "query": "os.family", "operator": "==", "value": "RedHat"}),
    ("fn-bare", "collective('dev').member",
     {"data": "collective", "query": "dev", "output": "member"}),
    ("fn-no-arg", "uptime().seconds>10",
     {"data": "uptime", "query": None, "output": "seconds", "operator": ">", "value": "10"}),
    ("fn-arg-spaces", "fstat( '/x' ).size>1",
     {"data": "fstat", "query": "/x", "output": "size", "operator": ">", "value": "1"}),
    ("fn-hex-value", "fstat('/x').size>0x9e",
     {"data": "fstat", "query": "/x", "output": "size", "operator": ">", "value": "0x9e"}),
    ("fn-in-expression", "apache and not fstat('/x').present=1",
     {"and": [{"class": "apache"}, {"not": {"data": "fstat", "query": "/x",
                                              "output": "present", "operator": "==",
                                              "value": "1"}}]}),
]


@pytest.mark.parametrize(("text", "wire"), [c[1:] for c in PARSE_OK], ids=[c[0] for c in PARSE_OK])
def test_parse_compound(text: str, wire: Any) -> None:
    expr = parse_compound(text)
    assert expr.to_wire() == wire
    # the wire form is plain JSON and reads back into the same tree
    assert expr_from_wire(json.loads(json.dumps(expr.to_wire()))) == expr


def test_parse_returns_a_tree() -> None:
    assert parse_compound("a and not os=x or /r/") == Or((
        And((C("a"), Not(FactFilter("os", "==", "x")))), C("/r/")))
    assert parse_compound("f('q').o") == DataTest("f", "q", "o")


# --- syntax errors, with positions -------------------------------------------------------

ERRORS = [
    # id, text, position, message fragment
    ("empty", "", 0, "empty"),
    ("blank", "   ", 0, "empty"),
    ("start-and", "and a", 0, "cannot start with 'and'"),
    ("start-or", "or a", 0, "cannot start with 'or'"),
    ("start-andand", "&& a", 0, "cannot start with '&&'"),
    ("end-and", "a and", 2, "cannot end with 'and'"),
    ("end-or", "a or", 2, "cannot end with 'or'"),
    ("end-not", "a and not", 6, "cannot end with 'not'"),
    ("end-bang", "!", 0, "cannot end with '!'"),
    ("doubled-and", "a and and b", 6, "'and' cannot follow 'and'"),
    ("doubled-and-or", "a and or b", 6, "'or' cannot follow 'and'"),
    ("not-then-and", "not and a", 4, "'and' cannot follow 'not'"),
    ("paren-then-and", "(and a)", 1, "'and' cannot follow '('"),
    ("operator-before-close", "(a and)", 3, "'and' needs a statement after it"),
    ("unclosed", "(a", 0, "unclosed '('"),
    ("unclosed-inner", "(a and (b)", 0, "unclosed '('"),
    ("unclosed-bare", "(", 0, "unclosed '('"),
    ("unbalanced-close", "a)", 1, "unbalanced ')'"),
    ("unbalanced-close-alone", ")", 0, "unbalanced ')'"),
    ("unbalanced-close-late", "(a) and b)", 9, "unbalanced ')'"),
    ("adjacent", "a b", 2, "missing 'and' or 'or' before 'b'"),
    ("adjacent-paren-after", "(a) b", 4, "missing 'and' or 'or'"),
    ("adjacent-parens", "(a)(b)", 3, "missing 'and' or 'or'"),
    ("adjacent-paren-before", "a (b)", 2, "missing 'and' or 'or'"),
    ("adjacent-not", "a not b", 2, "missing 'and' or 'or' before 'not'"),
    ("adjacent-inside", "(a b)", 3, "missing 'and' or 'or' before 'b'"),
    ("adjacent-facts", "a=1 b=2", 4, "missing 'and' or 'or'"),
    ("empty-parens", "()", 0, "empty parentheses"),
    ("empty-parens-inner", "a and ()", 6, "empty parentheses"),
    ("operator-alone", "=x", 0, "needs a fact name"),
    ("ne-alone", "!=x", 0, "needs a fact name"),
    ("bad-char", "a & b", 2, "unexpected character '&'"),
    ("bad-char-comma", "a,b", 1, "unexpected ','"),
    ("bad-char-start", "$a", 0, "unexpected character"),
    ("missing-value", "a=", 2, "missing value after '='"),
    ("missing-value-space", "a = ", 4, "missing value"),
    ("missing-value-paren", "(a=)", 3, "missing value"),
    ("malformed-op", "a===b", 3, "malformed operator '==='"),
    ("malformed-op-spaceship", "a<=>b", 3, "malformed operator"),
    ("malformed-op-tilde", "a=~~b", 3, "malformed operator"),
    ("unterminated-regex", "/abc", 0, "unterminated regular expression"),
    ("unterminated-regex-escaped", r"/abc\/", 0, "unterminated regular expression"),
    ("unterminated-regex-value", "a=/abc", 2, "unterminated regular expression"),
    ("regex-compared", "/re/=x", 4, "cannot be compared"),
    ("regex-compared-space", "/re/ == x", 5, "cannot be compared"),
    ("regex-ordered", "a</x/", 1, "cannot be compared with '<'"),
    ("text-after-regex", "/re/x", 4, "unexpected 'x'"),
    ("text-after-regex-value", "a=/re/x", 6, "unexpected 'x'"),
    ("invalid-regex", "/(/", 0, "invalid regular expression"),
    ("invalid-regex-value", "a=/[/", 2, "invalid regular expression"),
    ("invalid-regex-quoted", "a=~'('", 3, "invalid regular expression"),
    ("empty-regex", "//", 0, "empty regular expression"),
    ("unterminated-single", "a='abc", 2, "unterminated ' quote"),
    ("unterminated-double", 'a="abc', 2, 'unterminated " quote'),
    ("unterminated-escaped", r"a='abc\'", 2, "unterminated ' quote"),
    ("paren-in-value", "a=b(c)", 3, "'(' in a value must be quoted"),
    ("fn-unterminated", "foo(", 3, "unterminated call"),
    ("fn-unterminated-arg", "foo('x'", 3, "unterminated call"),
    ("fn-unquoted", "fact(os.family).value=x", 5, "must be quoted"),
    ("fn-unquoted-late", "a and fact(os).value=x", 11, "must be quoted"),
    ("fn-two-args", "f('a', 'b').x=1", 7, "single argument"),
    ("fn-trailing-comma", "f('a',).x=1", 6, "quoted argument after ','"),
    ("fn-junk-after-arg", "f('a' x).y=1", 6, "expected ')'"),
    ("fn-unterminated-quote", "f('a).x=1", 2, "unterminated ' quote"),
    ("fn-bad-name", "os.family('x').value=1", 0, "invalid data plugin name"),
    ("fn-chained-accessor", "fstat('/x').a.b=1", 13, "only one output accessor"),
    ("fn-empty-accessor", "fstat('/x').=1", 12, "expected an output name"),
    ("fn-bad-accessor", "fstat('/x').-x=1", 12, "expected an output name"),
    ("fn-missing-value", "fstat('/x').size>", 17, "missing value"),
    ("fn-regex-ordered", "fstat('/x').size>/1/", 16, "cannot be compared"),
    ("fn-junk-after", "fstat('/x').size$", 16, "unexpected '$'"),
]


@pytest.mark.parametrize(("text", "position", "message"), [c[1:] for c in ERRORS],
                         ids=[c[0] for c in ERRORS])
def test_syntax_errors(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message.replace("(", r"\(").replace(
            ")", r"\)").replace("$", r"\$")) as info:
        parse_compound(text)
    assert info.value.position == position
    assert info.value.text == text
    if text:  # the message shows the text with a caret under the position
        assert f"\n  {text}\n  {' ' * position}^" in str(info.value)


def test_nesting_is_bounded() -> None:
    ok = "(" * (MAX_DEPTH - 2) + "a" + ")" * (MAX_DEPTH - 2)
    assert parse_compound(ok) == C("a")
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        parse_compound("(" * 10_000 + "a" + ")" * 10_000)
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        parse_compound("not " * 10_000 + "a")
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        parse_compound("!" * 10_000 + "a")
    deep_tree = "".join(f"not (a{i} or " for i in range(40)) + "x" + ")" * 40
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        parse_compound(deep_tree)


def test_size_is_bounded() -> None:
    assert isinstance(parse_compound(" or ".join(["a"] * 1000)), Or)
    with pytest.raises(FilterSyntaxError, match="more than"):
        parse_compound(" or ".join(["a"] * 20_000))


def test_parse_compound_rejects_non_strings() -> None:
    with pytest.raises(FilterSyntaxError):
        parse_compound(None)  # type: ignore[arg-type]


# --- evaluation ----------------------------------------------------------------------------

FACTS: dict[str, Any] = {
    "os": "Debian", "kernel": "Linux", "mem": 2048, "cpus": "4", "name": "Red Hat",
    "temp": -3, "os.family": "Literal", "osinfo": {"family": "Debian"},
    "ips": ["10.0.0.1", "10.0.0.2"], "path": "/tmp/", "quote": "it's",
}
CLASSES = ["apache", "base", "role::web"]


def evaluate(text: str, *, data: Any = None, facts: Mapping[str, Any] = FACTS) -> bool:
    node = Node("web1", facts, CLASSES, ["rpcutil"], ["mcollective"], data)
    return Filter.build(compound=[text]).matches(node)


EVAL = [
    # id, text, expected
    ("class", "apache", True),
    ("class-missing", "nginx", False),
    ("class-regex", "/^role::/", True),
    ("class-regex-unanchored", "/pach/", True),
    ("class-regex-missing", "/^nginx/", False),
    ("fact-eq", "os=Debian", True),
    ("fact-eqeq", "os==Debian", True),
    ("fact-ne", "os!=Debian", False),
    ("fact-ne-true", "os!=RedHat", True),
    ("fact-ne-missing", "missing!=x", False),
    ("fact-gt-numeric", "mem>1024", True),
    ("fact-gt-string-numeric", "cpus>10", False),
    ("fact-ge-alias", "cpus=>4", True),
    ("fact-le-alias", "cpus=<3", False),
    ("fact-negative", "temp<-2", True),
    ("fact-negative-2", "temp<-4", False),
    ("fact-float", "mem>2047.5", True),
    ("fact-regex", "os=/^Deb/", True),
    ("fact-regex-tilde", "os=~/^Deb/", True),
    ("fact-regex-bare", "os=~ian$", True),
    ("fact-regex-ne", "os!=/^Deb/", False),
    ("fact-regex-ne-true", "os!=/^Red/", True),
    ("fact-quoted", "name='Red Hat'", True),
    ("fact-quoted-escape", r"quote='it\'s'", True),
    ("fact-quoted-slashes-literal", "path=='/tmp/'", True),
    ("fact-dotted-literal-wins", "os.family=Literal", True),
    ("fact-dotted-walk", "osinfo.family=Debian", True),
    ("fact-array", "ips=10.0.0.2", True),
    ("and-true", "apache and os=Debian", True),
    ("and-false", "apache and os=RedHat", False),
    ("or-true", "nginx or os=Debian", True),
    ("or-false", "nginx or os=RedHat", False),
    ("not", "not nginx", True),
    ("not-false", "not apache", False),
    ("bang", "!nginx", True),
    ("not-not", "not not apache", True),
    ("precedence-1", "apache or nginx and mysql", True),  # apache or (nginx and mysql)
    ("precedence-2", "nginx and mysql or apache", True),
    ("precedence-3", "(apache or nginx) and mysql", False),
    ("precedence-not", "not nginx and apache", True),  # (not nginx) and apache
    ("precedence-not-group", "not (nginx and apache)", True),
    ("precedence-not-group-2", "not (nginx or apache)", False),
    ("nested", "(apache and (os=Debian or os=RedHat)) and not (/^db/ or mysql)", True),
    ("symbols", "apache && !nginx || mysql", True),
    ("identity-is-a-fact", "identity=web1", False),  # a fact called "identity"
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in EVAL], ids=[c[0] for c in EVAL])
def test_evaluation(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


def test_several_compound_expressions_must_all_pass() -> None:
    node = Node("n", FACTS, CLASSES)
    assert Filter.build(compound=["apache", "os=Debian"]).matches(node)
    assert not Filter.build(compound=["apache", "os=RedHat"]).matches(node)


# --- data plugins ------------------------------------------------------------------------


class FakeData:
    """A node's data-plugin lookup: answers from a table, records the calls."""

    def __init__(self, table: dict[tuple[str, str | None], Mapping[str, Any] | None],
                 fail: frozenset[str] = frozenset()) -> None:
        self.table, self.fail = table, fail
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, name: str, query: str | None) -> Mapping[str, Any] | None:
        self.calls.append((name, query))
        if name in self.fail:
            raise RuntimeError("plugin exploded")
        return self.table.get((name, query))


DATA: dict[tuple[str, str | None], Mapping[str, Any] | None] = {
    ("fstat", "/etc/hosts"): {"name": "/etc/hosts", "present": 1, "size": 158, "mode": "100644",
                              "type": "file", "md5": "abc"},
    ("fstat", "/missing"): {"name": "/missing", "present": 0, "size": 0},
    ("fact", "os.family"): {"exists": True, "value": "RedHat", "value_encoding": "text"},
    ("fact", "mem"): {"exists": True, "value": 2048},
    ("collective", "dev"): {"member": True},
    ("collective", "prod"): {"member": False},
    ("puppet", None): {"enabled": False, "version": "7.1.0", "lag": -5, "ratio": 0.5},
    ("single", "x"): {"only": "here"},
    ("empty", "x"): {},
    ("nulls", "x"): {"value": None},
}

DATA_EVAL = [
    ("gt", "fstat('/etc/hosts').size>100", True),
    ("gt-false", "fstat('/etc/hosts').size>200", False),
    ("eq-number", "fstat('/etc/hosts').size=158", True),
    ("eq-number-float-text", "fstat('/etc/hosts').size==158.0", True),
    ("hex", "fstat('/etc/hosts').size>0x9d", True),
    ("hex-equal", "fstat('/etc/hosts').size==0x9e", True),
    ("exponent", "fstat('/etc/hosts').size<1.58e3", True),
    ("le", "fstat('/etc/hosts').size<=158", True),
    ("ge-alias", "fstat('/etc/hosts').size=>159", False),
    ("ne", "fstat('/etc/hosts').size!=158", False),
    ("string-eq", "fstat('/etc/hosts').type=file", True),
    ("string-ne", "fstat('/etc/hosts').type!=file", False),
    ("string-regex", "fstat('/etc/hosts').mode=/^100/", True),
    ("string-regex-ne", "fstat('/etc/hosts').mode!=/^100/", False),
    ("string-order", "fact('os.family').value>Debian", True),  # text order
    ("number-regex", "fstat('/etc/hosts').size=~^15", True),
    ("number-vs-word", "fstat('/etc/hosts').size==big", False),
    ("bool-true", "collective('dev').member=true", True),
    ("bool-false", "collective('prod').member=false", True),  # MCO-739 fixed
    ("bool-ne", "collective('prod').member!=true", True),
    ("bool-order", "collective('dev').member>false", False),
    ("bool-bare", "collective('dev').member", True),
    ("bool-bare-false", "collective('prod').member", False),
    ("bare-number", "fstat('/etc/hosts').present", True),
    ("bare-zero", "fstat('/missing').present", False),
    ("bare-string", "fstat('/etc/hosts').type", True),
    ("no-arg", "puppet().enabled=false", True),
    ("negative", "puppet().lag<-1", True),
    ("float", "puppet().ratio>0.25", True),
    ("default-output-value", "fact('os.family')=RedHat", True),
    ("default-output-single", "single('x')=here", True),
    ("default-output-none", "fstat('/etc/hosts')=x", False),
    ("native-number-output", "fact('mem').value>1000", True),
    ("missing-output", "fstat('/etc/hosts').nope=1", False),
    ("missing-output-negated", "not fstat('/etc/hosts').nope=1", True),
    ("null-output", "nulls('x').value=None", False),
    ("empty-output", "empty('x')", False),
    ("combined", "apache and fstat('/etc/hosts').present=1 and not fstat('/missing').present=1",
     True),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in DATA_EVAL],
                         ids=[c[0] for c in DATA_EVAL])
def test_data_functions(text: str, expected: bool) -> None:
    assert evaluate(text, data=FakeData(DATA)) is expected


@pytest.mark.parametrize("text", [
    "nosuch('x').y=1",
    "not nosuch('x').y=1",  # a node that cannot answer does not match, even negated
    "apache or nosuch('x').y=1",  # every function is asked, whatever the order
    "nosuch('x').y=1 or apache",
    "fstat('/not-in-table').size>1",
])
def test_missing_data_plugin_makes_the_expression_false(text: str) -> None:
    assert evaluate(text, data=FakeData(DATA)) is False


def test_no_data_lookup_on_the_node() -> None:
    assert evaluate("fstat('/etc/hosts').size>1", data=None) is False
    assert evaluate("not fstat('/etc/hosts').size>1", data=None) is False


def test_failing_data_plugin_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    data = FakeData(DATA, fail=frozenset({"fstat"}))
    assert evaluate("fstat('/etc/hosts').size>1", data=data) is False
    assert "plugin exploded" in caplog.text


def test_data_plugin_answer_that_is_not_a_mapping() -> None:
    assert evaluate("x('y').z=1", data=lambda name, query: ["not", "a", "dict"]) is False


def test_only_the_failing_expression_is_false() -> None:
    node = Node("n", FACTS, CLASSES, data=FakeData(DATA))
    flt = Filter.build(compound=["apache", "nosuch('x').y=1"])
    assert not flt.matches(node)
    assert Filter.build(compound=["apache"]).matches(node)


def test_data_queries_are_asked_once_per_evaluation() -> None:
    data = FakeData(DATA)
    assert evaluate("fstat('/etc/hosts').size>1 and fstat('/etc/hosts').type=file and "
                    "fstat('/etc/hosts').present=1 or collective('dev').member", data=data)
    assert data.calls == [("fstat", "/etc/hosts"), ("collective", "dev")]
    assert evaluate("fstat('/etc/hosts').size>1", data=data)
    assert len(data.calls) == 3  # a new evaluation asks again


# --- the wire form -------------------------------------------------------------------------

WIRE_OK = [
    {"class": "a"},
    {"class": "/a/"},
    {"fact": "a", "operator": "!~", "value": "/x/"},
    {"fact": "a", "operator": ">", "value": 5},
    {"not": {"class": "a"}},
    {"and": [{"class": "a"}, {"class": "b"}, {"class": "c"}]},
    {"or": [{"class": "a"}, {"not": {"fact": "x", "operator": "==", "value": "y"}}]},
    {"data": "fstat", "query": "/x", "output": "size", "operator": ">", "value": "1"},
    {"data": "fstat", "query": "/x", "output": "size", "operator": ">", "value": 1},
    {"data": "fstat", "query": "/x"},
    {"data": "uptime"},
    {"data": "uptime", "query": None, "output": None, "operator": None, "value": None},
]


@pytest.mark.parametrize("wire", WIRE_OK, ids=lambda w: json.dumps(w))
def test_wire_accepts(wire: Any) -> None:
    expr = expr_from_wire(wire)
    assert expr_from_wire(expr.to_wire()) == expr


WIRE_BAD: list[tuple[str, Any]] = [
    ("not-object", ["class", "a"]),
    ("string", "apache"),
    ("null", None),
    ("empty-object", {}),
    ("unknown-key", {"klass": "a"}),
    ("class-extra-key", {"class": "a", "x": 1}),
    ("class-not-string", {"class": 5}),
    ("class-empty", {"class": ""}),
    ("class-bad-regex", {"class": "/(/"}),
    ("class-half-regex", {"class": "/abc"}),
    ("and-one-item", {"and": [{"class": "a"}]}),
    ("and-not-list", {"and": {"class": "a"}}),
    ("and-bad-item", {"and": [{"class": "a"}, 5]}),
    ("and-extra-key", {"and": [{"class": "a"}, {"class": "b"}], "or": []}),
    ("or-empty", {"or": []}),
    ("not-list", {"not": [{"class": "a"}]}),
    ("not-extra-key", {"not": {"class": "a"}, "class": "b"}),
    ("fact-missing-value", {"fact": "a", "operator": "=="}),
    ("fact-bad-operator", {"fact": "a", "operator": "=", "value": "x"}),
    ("fact-bad-regex", {"fact": "a", "operator": "=~", "value": "["}),
    ("data-bad-name", {"data": "os.family", "query": "x"}),
    ("data-name-not-string", {"data": 5}),
    ("data-query-not-string", {"data": "fstat", "query": 5}),
    ("data-bad-output", {"data": "fstat", "query": "x", "output": "a.b"}),
    ("data-operator-without-value", {"data": "fstat", "operator": "=="}),
    ("data-value-without-operator", {"data": "fstat", "value": "x"}),
    ("data-bad-operator", {"data": "fstat", "operator": "<>", "value": "x"}),
    ("data-value-list", {"data": "fstat", "operator": "==", "value": ["x"]}),
    ("data-extra-key", {"data": "fstat", "params": "x"}),
    ("data-bad-regex", {"data": "f", "operator": "=~", "value": "/(/"}),
]


@pytest.mark.parametrize("wire", [c[1] for c in WIRE_BAD], ids=[c[0] for c in WIRE_BAD])
def test_wire_rejects(wire: Any) -> None:
    with pytest.raises(FilterSyntaxError):
        expr_from_wire(wire)


def test_wire_depth_is_bounded() -> None:
    wire: Any = {"class": "a"}
    for _ in range(MAX_DEPTH - 1):
        wire = {"not": wire}
    expr_from_wire(wire)
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        expr_from_wire({"not": wire})
    # far beyond Python's recursion limit: still a clean error
    deep: Any = {"class": "a"}
    for _ in range(100_000):
        deep = {"not": deep}
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        expr_from_wire(deep)


def test_wire_size_is_bounded() -> None:
    wide = {"or": [{"class": "a"}] * 20_000}
    with pytest.raises(FilterSyntaxError, match="more than"):
        expr_from_wire(wide)


def test_constructed_trees_are_validated() -> None:
    with pytest.raises(FilterSyntaxError):
        And((C("a"),))
    with pytest.raises(FilterSyntaxError):
        Or((C("a"), "b"))  # type: ignore[arg-type]
    with pytest.raises(FilterSyntaxError):
        Not("a")  # type: ignore[arg-type]
    with pytest.raises(FilterSyntaxError):
        DataTest("f", "q", "o", "==")
    with pytest.raises(FilterSyntaxError):
        C("/(/")
    deep: Any = C("a")
    for _ in range(MAX_DEPTH + 5):
        deep = Not(deep)
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        Filter(compound=[deep])


def test_choria_with_function_is_the_test_it_names() -> None:
    # Choria's expression language writes class and fact tests as with('...'); read as
    # the plain test (on the wire too), not as a data plugin named 'with'.
    assert parse_compound("with('apache') and not with('country=de')") == parse_compound(
        "apache and not country=de")
    assert parse_compound("with('/^web/')") == parse_compound("/^web/")
    for bad in ("with()", "with('a and b')", "with('a').x", "with('a') == 'b'"):
        with pytest.raises(FilterSyntaxError, match=r"with\(\) takes one quoted class or fact"):
            parse_compound(bad)
