"""An independent table: the original MCollective's documented filter semantics
(reference/mcollective.md §4, written down here without looking at our engine), each
with what the original did and what we do.

Where the two columns differ, the row says why (DESIGN §8 or docs/filters.md "Where we
differ"); a test checks that no difference goes without a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mcollective.errors import FilterSyntaxError
from mcollective.filters import Filter, Node, parse_compound, parse_fact_filter

ERROR = "error"


@dataclass(frozen=True)
class Row:
    id: str
    section: str
    #: Filter.build() keyword arguments, or a wire dict under "wire"
    spec: dict[str, Any]
    node: Node
    original: bool | str  # True/False, or ERROR (rejected on the client / dropped)
    ours: bool | str
    why: str = ""
    tags: tuple[str, ...] = field(default=())


def N(identity: str = "web1", facts: dict[str, Any] | None = None,
      classes: tuple[str, ...] = (), agents: tuple[str, ...] = (),
      data: Any = None) -> Node:
    return Node(identity, facts or {}, list(classes), list(agents), ["mcollective"], data)


def fake_data(table: dict[tuple[str, str | None], dict[str, Any]]) -> Any:
    return lambda name, query: table.get((name, query))


WEB = N(facts={"country": "uk", "kernel": "2.6.10", "mem": "10", "neg": "-1",
               "zero1": "01", "ver": "1a5", "ips": ["10.0.0.1", "10.0.0.2"],
               "ifaces": {"eth0": "up", "lo": "up"}, "os.family": "Literal",
               "os": {"family": "Debian"}},
        classes=("apache", "role::web", "a/b"), agents=("rpcutil", "package"))
DATA = fake_data({
    ("fstat", "/etc/hosts"): {"size": 158, "type": "file", "present": 1},
    ("puppet", None): {"enabled": False},
    ("fact", "mem"): {"value": "20"},
})
WEB_DATA = N(facts={"country": "uk"}, classes=("apache",), data=DATA)

ROWS = [
    # §4.1 filter structure
    Row("empty-braces", "4.1", {"wire": {}}, WEB, True, True),
    Row("empty-five-lists", "4.1", {"wire": {"fact": [], "cf_class": [], "agent": [],
                                             "identity": [], "compound": []}}, WEB, True, True),
    Row("empty-key-missing", "4.1", {"wire": {"fact": [], "cf_class": [], "agent": []}},
        WEB, False, True, "DESIGN §8: all-empty lists match every node, whatever keys"),
    Row("old-puppet-class", "4.1", {"wire": {"puppet_class": ["apache"]}}, WEB, True, True),
    # §4.2 -F parsing (matching the parsed filter against WEB)
    Row("F-ge-alias", "4.2", {"facts": ["mem => 9"]}, WEB, True, True),
    Row("F-le-alias", "4.2", {"facts": ["mem=<9"]}, WEB, False, False),
    Row("F-op-list", "4.2", {"facts": ["country!=de"]}, WEB, True, True),
    Row("F-eq-regex", "4.2", {"facts": ["country=/^u/"]}, WEB, True, True),
    Row("F-eq", "4.2", {"facts": ["country=uk"]}, WEB, True, True),
    Row("F-no-operator", "4.2", {"facts": ["country"]}, WEB, ERROR, ERROR),
    Row("F-empty-value", "4.2", {"facts": ["country="]}, WEB, ERROR, ERROR),
    Row("F-space-in-name", "4.2", {"facts": ["coun try=uk"]}, WEB, ERROR, ERROR),
    Row("F-leading-space", "4.2", {"facts": [" country=uk"]}, WEB, ERROR, True,
        "surrounding spaces are ignored: harmless and friendlier (docs: -F)"),
    Row("F-dotted-name-literal", "4.2", {"facts": ["os.family=Literal"]}, WEB, True, True),
    Row("F-dotted-name-walks", "4.2", {"facts": ["os.family=Debian"]},
        N(facts={"os": {"family": "Debian"}}), False, True,
        "DESIGN §8: structured facts; a literal top-level key still wins"),
    Row("F-ne-regex-is-literal", "4.2", {"facts": ["country!=/u/"]}, WEB, True, True),
    Row("F-quirk-eq-tilde", "4.2", {"facts": ["country=~"]}, N(facts={"country": "~"}),
        True, ERROR, "'=~' with no pattern is a mistake; the original read it as == '~'"),
    Row("F-quirk-eqeq", "4.2", {"facts": ["country=="]}, N(facts={"country": "="}),
        True, ERROR, "'==' with no value is a mistake; the original read it as == '='"),
    Row("F-quirk-spaceship", "4.2", {"facts": ["a<=>b"]}, N(facts={"a<": "b"}),
        True, ERROR, "malformed operators are rejected instead of guessed"),
    # §4.3 fact matching
    Row("missing-eq", "4.3", {"facts": ["nope=x"]}, WEB, False, False),
    Row("missing-ne", "4.3", {"facts": ["nope!=x"]}, WEB, False, False),
    Row("array-any", "4.3", {"facts": ["ips=10.0.0.2"]}, WEB, True, True),
    Row("hash-any-key", "4.3", {"facts": ["ifaces=lo"]}, WEB, True, True),
    Row("hash-values-ignored", "4.3", {"facts": ["ifaces=up"]}, WEB, False, False),
    Row("regex-slashes-stripped", "4.3", {"facts": ["country=~/^uk$/"]}, WEB, True, True),
    Row("regex-unanchored", "4.3", {"facts": ["country=~k"]}, WEB, True, True),
    Row("regex-case-sensitive", "4.3", {"facts": ["country=~UK"]}, WEB, False, False),
    Row("eq-exact-string", "4.3", {"facts": ["country==uk"]}, WEB, True, True),
    Row("eq-trailing-space", "4.3", {"facts": ["country==uk "]}, WEB, False, True,
        "surrounding spaces of -F are ignored (the original kept the value's trailing space)"),
    Row("int-compare", "4.3", {"facts": ["mem>9"]}, WEB, True, True),
    Row("10-gt-9.5", "4.3", {"facts": ["mem>9.5"]}, WEB, False, True,
        "DESIGN §8: numeric when both sides are numbers"),
    Row("100-gt-9.5", "4.3", {"facts": ["mem>9.5"]}, N(facts={"mem": "100"}), True, True),
    Row("version-string-compare", "4.3", {"facts": ["kernel>2.6.9"]}, WEB, False, False),
    Row("negative", "4.3", {"facts": ["neg<-2"]}, WEB, True, False,
        "DESIGN §8: negative numbers compare numerically"),
    Row("leading-zero-ne", "4.3", {"facts": ["zero1!=1"]}, WEB, False, True,
        "!= is the negation of ==, and string facts are string-equal: '01' is not '1' "
        "(the original said neither == nor !=)"),
    Row("leading-zero-eq", "4.3", {"facts": ["zero1==1"]}, WEB, False, False),
    Row("float-raise", "4.3", {"facts": ["ver<2.0"]}, WEB, ERROR, True,
        "no exceptions on odd values: '1a5' is not a number, so text order applies"),
    # §4.4 class, identity, agent
    Row("class-exact", "4.4", {"classes": ["apache"]}, WEB, True, True),
    Row("class-exact-not-substring", "4.4", {"classes": ["apach"]}, WEB, False, False),
    Row("class-regex", "4.4", {"classes": ["/^role::/"]}, WEB, True, True),
    Row("identity-eq", "4.4", {"identities": ["web1"]}, WEB, True, True),
    Row("identity-regex", "4.4", {"identities": ["/^web/"]}, WEB, True, True),
    Row("identity-or", "4.4", {"identities": ["db1", "web1"]}, WEB, True, True),
    Row("identity-two-match", "4.4", {"identities": ["web1", "/web/"]}, WEB, False, True,
        "DESIGN §8: several -I match a node if any one matches"),
    Row("agent-plain", "4.4", {"agents": ["package"]}, WEB, True, True),
    Row("agent-regex", "4.4", {"agents": ["/^pack/"]}, WEB, True, True),
    Row("agent-mcollective", "4.4", {"agents": ["mcollective"]}, N(), True, True),
    Row("regex-every-slash-removed", "4.4", {"classes": ["/^a\\/b$/"]}, WEB, False, True,
        "only the enclosing slashes are removed, so \\/ matches a slash"),
    Row("regex-leading-slash-only", "4.4", {"classes": ["/apache"]}, WEB, True, ERROR,
        "'/x' without the closing slash is rejected instead of guessed"),
    Row("combination-and", "4.4", {"classes": ["apache"], "agents": ["package"],
                                   "facts": ["country=uk"], "identities": ["/web/"]},
        WEB, True, True),
    Row("combination-one-fails", "4.4", {"classes": ["apache"], "agents": ["service"]},
        WEB, False, False),
    # §4.5 compound
    Row("S-class", "4.5", {"compound": ["apache"]}, WEB, True, True),
    Row("S-class-regex", "4.5", {"compound": ["/^role/"]}, WEB, True, True),
    Row("S-fact", "4.5", {"compound": ["country=uk"]}, WEB, True, True),
    Row("S-fact-regex", "4.5", {"compound": ["country=/u/"]}, WEB, True, True),
    Row("S-lt-gt", "4.5", {"compound": ["mem<11 and mem>9"]}, WEB, True, True),
    Row("S-le-ge", "4.5", {"compound": ["mem<=10 and mem>=10"]}, WEB, True, True),
    Row("S-spaces-around-op", "4.5", {"compound": ["country = uk"]}, WEB, True, True),
    Row("S-quoted", "4.5", {"compound": ["name='Red Hat'"]},
        N(facts={"name": "Red Hat"}), True, True),
    Row("S-quote-escape-concat", "4.5", {"compound": ["name='it\\'s'\" ok\""]},
        N(facts={"name": "it's ok"}), True, True),
    Row("S-regex-escaped-slash-parens", "4.5", {"compound": ["/^(a)\\/b$/"]}, WEB, False, True,
        "parsed by both; but the original then removed every slash, leaving ^(a)\\b$"),
    Row("S-keyword-followed-by-paren", "4.5", {"compound": ["not(nginx)"]}, WEB, True, True),
    Row("S-bang", "4.5", {"compound": ["!nginx"]}, WEB, True, True),
    Row("S-trailing-keyword", "4.5", {"compound": ["apache and"]}, WEB, ERROR, ERROR),
    Row("S-trailing-not-as-class", "4.5", {"compound": ["apache and not"]},
        N(classes=("apache", "not")), True, ERROR,
        "keywords are always keywords; a class named 'not' is written /^not$/"),
    Row("S-uppercase-keyword", "4.5", {"compound": ["AND"]}, N(classes=("AND",)), True, True),
    Row("S-ne", "4.5", {"compound": ["country!=uk"]}, WEB, False, False,
        "same answer, different reason: the original looked up a fact 'country!'"),
    Row("S-ne-true", "4.5", {"compound": ["country!=de"]}, WEB, False, True,
        "DESIGN §8: -S accepts !="),
    Row("S-eqeq", "4.5", {"compound": ["country==uk"]}, WEB, False, True,
        "DESIGN §8: -S accepts == (the original compared with an empty value)"),
    Row("S-match", "4.5", {"compound": ["country=~^u"]}, WEB, False, True,
        "DESIGN §8: -S accepts =~"),
    Row("S-ge-alias", "4.5", {"compound": ["mem=>10"]}, WEB, False, True,
        "-S accepts the -F aliases => and =<"),
    Row("S-identity-is-fact", "4.5", {"compound": ["identity=web1"]}, WEB, False, False),
    Row("S-value-with-equals", "4.5", {"compound": ["x=a=b"]}, N(facts={"x": "a=b"}),
        False, True, "the value is everything up to the next space (quote it to be sure)"),
    Row("S-fn-size", "4.5", {"compound": ["fstat('/etc/hosts').size>100"]}, WEB_DATA,
        True, True),
    Row("S-fn-eq-becomes-eqeq", "4.5", {"compound": ["fstat('/etc/hosts').type=file"]},
        WEB_DATA, True, True),
    Row("S-fn-regex", "4.5", {"compound": ["fstat('/etc/hosts').type=/^fi/"]}, WEB_DATA,
        True, True),
    Row("S-fn-regex-ne", "4.5", {"compound": ["fstat('/etc/hosts').type!=/^fi/"]}, WEB_DATA,
        False, False),
    Row("S-fn-string-order", "4.5", {"compound": ["fstat('/etc/hosts').type>a"]}, WEB_DATA,
        False, True, "strings order as text, like facts, instead of always false"),
    Row("S-fn-hex", "4.5", {"compound": ["fstat('/etc/hosts').size==0x9e"]}, WEB_DATA,
        True, True),
    Row("S-fn-float", "4.5", {"compound": ["fstat('/etc/hosts').size<1.58e3"]}, WEB_DATA,
        True, True),
    Row("S-fn-number-vs-word", "4.5", {"compound": ["fstat('/etc/hosts').size>big"]},
        WEB_DATA, ERROR, False, "a word is compared as text instead of raising on the node"),
    Row("S-fn-bool-false", "4.5", {"compound": ["puppet().enabled=false"]}, WEB_DATA,
        True, True),
    Row("S-fn-unknown-output", "4.5", {"compound": ["fstat('/etc/hosts').nope=1"]},
        WEB_DATA, False, False),
    Row("S-fn-backticks", "4.5", {"compound": ["fstat('`id`').size>1"]},
        N(data=fake_data({("fstat", "`id`"): {"size": 5}})), False, True,
        "no shell or eval is involved; the argument reaches the plugin as plain text"),
    Row("S-fn-missing-plugin", "4.5", {"compound": ["nosuch('x').y=1"]}, WEB_DATA,
        False, False),
    Row("S-fn-missing-plugin-negated", "4.5", {"compound": ["not nosuch('x').y=1"]}, WEB_DATA,
        False, False),
    Row("S-precedence", "4.5", {"compound": ["nginx and mysql or apache"]}, WEB, True, True),
    Row("S-precedence-not", "4.5", {"compound": ["not nginx and apache"]}, WEB, True, True),
    Row("S-parens", "4.5", {"compound": ["(nginx or apache) and mysql"]}, WEB, False, False),
    Row("S-err-start", "4.5", {"compound": ["and apache"]}, WEB, ERROR, ERROR),
    Row("S-err-doubled", "4.5", {"compound": ["apache and and x"]}, WEB, ERROR, ERROR),
    Row("S-err-unbalanced", "4.5", {"compound": ["(apache"]}, WEB, ERROR, ERROR),
    Row("S-err-adjacent", "4.5", {"compound": ["apache nginx"]}, WEB, ERROR, ERROR),
    Row("S-err-empty-parens", "4.5", {"compound": ["()"]}, WEB, ERROR, ERROR),
    Row("S-err-open-call", "4.5", {"compound": ["foo("]}, WEB, ERROR, ERROR),
    Row("S-err-unquoted-arg", "4.5", {"compound": ["fact(os).value=x"]}, WEB, ERROR, ERROR),
    Row("S-err-regex-compared", "4.5", {"compound": ["/re/=x"]}, WEB, ERROR, ERROR),
    Row("S-err-unterminated-regex", "4.5", {"compound": ["/re"]}, WEB, ERROR, ERROR),
    Row("S-err-chained-accessor", "4.5", {"compound": ["f('x').a.b=1"]}, WEB, ERROR, ERROR),
    Row("S-err-paren-then-word", "4.5", {"compound": ["(apache) nginx"]}, WEB, ERROR, ERROR,
        "the original accepted this and then crashed on the node; we reject it up front"),
    Row("S-err-parens-adjacent", "4.5", {"compound": ["(apache)(nginx)"]}, WEB, ERROR, ERROR,
        "the original accepted this and then crashed on the node; we reject it up front"),
    Row("S-empty", "4.5", {"compound": [""]}, WEB, False, ERROR,
        "an empty expression is a mistake, reported on the client"),
    # §4.6 data plugins in filters
    Row("fact-plugin-stringified", "4.6", {"compound": ["fact('mem').value>10"]},
        N(data=fake_data({("fact", "mem"): {"value": "20"}})), False, True,
        "DESIGN §8: numeric comparison when both sides are numbers"),
]

_IDS = [row.id for row in ROWS]


def _run(row: Row) -> bool | str:
    try:
        spec = row.spec
        flt = Filter.from_dict(spec["wire"]) if "wire" in spec else Filter.build(**spec)
    except FilterSyntaxError:
        return ERROR
    return flt.matches(row.node)


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_reference_semantics(row: Row) -> None:
    assert _run(row) == row.ours


def test_every_difference_has_a_reason() -> None:
    unexplained = [row.id for row in ROWS if row.original != row.ours and not row.why]
    assert unexplained == []


def test_ids_are_unique() -> None:
    assert len(set(_IDS)) == len(_IDS)


def test_the_original_parse_results_we_keep() -> None:
    """§4.2 parse rules with their exact output."""
    assert parse_fact_filter("a => 1").to_dict() == {"fact": "a", "operator": ">=", "value": "1"}
    assert parse_fact_filter("a =< 1").to_dict() == {"fact": "a", "operator": "<=", "value": "1"}
    assert parse_fact_filter("a = /x/").to_dict() == {"fact": "a", "operator": "=~",
                                                      "value": "/x/"}
    assert parse_fact_filter("a!=/x/").to_dict() == {"fact": "a", "operator": "!=",
                                                     "value": "/x/"}
    # §4.5: function tokens keep name, argument, accessor, operator and value
    assert parse_compound("fstat('/etc/hosts').size>100").to_wire() == {
        "data": "fstat", "query": "/etc/hosts", "output": "size", "operator": ">",
        "value": "100"}
