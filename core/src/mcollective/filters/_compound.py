"""Compound (``-S``) expressions: parser, AST, wire form and evaluation.

The expression is parsed on the client into a small tree, sent as JSON and compiled
into closures on the node. Nothing is ever passed to ``eval``; the tree's depth and
size are bounded both when parsing text and when reading the wire form, so a hostile
request cannot exhaust the node's stack or memory.

Wire form (one object per node; see docs/filters.md)::

    {"and": [e, e, ...]}   {"or": [e, e, ...]}   {"not": e}
    {"class": "apache"}    {"class": "/^web/"}
    {"fact": "os.family", "operator": "==", "value": "Debian"}
    {"data": "fstat", "query": "/etc/hosts", "output": "size", "operator": ">", "value": "100"}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias

from mcollective.errors import FilterSyntaxError
from mcollective.filters._facts import FactFilter, fact_predicate
from mcollective.filters._values import (
    MISSING,
    OPERATORS,
    REGEX_OPERATORS,
    compile_regex,
    name_entry,
    regex_body,
    stringify,
    truthy,
    value_test,
)

if TYPE_CHECKING:
    from mcollective.filters._filter import Node

log = logging.getLogger(__name__)

#: Deepest nesting of parentheses/``not`` (and of the wire tree) that is accepted.
MAX_DEPTH: Final = 64
#: Most tree nodes (statements plus and/or/not) one expression may have.
MAX_NODES: Final = 10_000

_PLUGIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OUTPUT_NAME = re.compile(r"[A-Za-z0-9_]+")
_WORD = re.compile(r"[\w.:@+\-]+")
_WRITTEN_OPERATORS: Final = ("=>", "=<", "<=", ">=", "==", "!=", "!~", "=~", "<", ">", "=")
_ALIASES: Final = {"=>": ">=", "=<": "<=", "=": "=="}
_KEYWORDS: Final = {"and": "and", "or": "or", "not": "not"}


# --- the tree ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassTest:
    """The node has class ``name`` (``/re/``: a class matching the regex)."""

    name: str

    def __post_init__(self) -> None:
        name_entry("class", self.name)

    def to_wire(self) -> dict[str, Any]:
        return {"class": self.name}


@dataclass(frozen=True, slots=True)
class DataTest:
    """A data-plugin function: ``plugin(query).output operator value``.

    ``query`` is ``None`` for ``plugin()``; ``output`` ``None`` means the plugin's only
    output (or its ``value`` output). Without ``operator`` the test is true when the
    output is true, a non-zero number or a non-empty string.
    """

    plugin: str
    query: str | None = None
    output: str | None = None
    operator: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.plugin, str) or not _PLUGIN_NAME.fullmatch(self.plugin):
            raise FilterSyntaxError(f"invalid data plugin name {self.plugin!r}")
        if self.query is not None and not isinstance(self.query, str):
            raise FilterSyntaxError("a data plugin query must be a string")
        if self.output is not None and (
                not isinstance(self.output, str) or not _OUTPUT_NAME.fullmatch(self.output)):
            raise FilterSyntaxError(f"invalid data plugin output name {self.output!r}")
        if (self.operator is None) != (self.value is None):
            raise FilterSyntaxError("a data plugin comparison needs both operator and value")
        if self.operator is not None:
            if self.operator not in OPERATORS:
                raise FilterSyntaxError(f"unknown operator {self.operator!r}")
            if not isinstance(self.value, str):
                raise FilterSyntaxError("a data plugin comparison value must be a string")
            if self.operator in REGEX_OPERATORS:
                compile_regex(regex_body(self.value))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"data": self.plugin, "query": self.query}
        if self.output is not None:
            out["output"] = self.output
        if self.operator is not None:
            out["operator"], out["value"] = self.operator, self.value
        return out

    def call_text(self) -> str:
        query = "" if self.query is None else _quote(self.query)
        accessor = "" if self.output is None else f".{self.output}"
        return f"{self.plugin}({query}){accessor}"


@dataclass(frozen=True, slots=True)
class Not:
    """Negation of ``item``."""

    item: Expr

    def __post_init__(self) -> None:
        if not isinstance(self.item, _EXPR_TYPES):
            raise FilterSyntaxError(f"'not' needs an expression, not {type(self.item).__name__}")

    def to_wire(self) -> dict[str, Any]:
        return {"not": self.item.to_wire()}


@dataclass(frozen=True, slots=True)
class And:
    """All of ``items`` (two or more)."""

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _check_items("and", self.items)

    def to_wire(self) -> dict[str, Any]:
        return {"and": [item.to_wire() for item in self.items]}


@dataclass(frozen=True, slots=True)
class Or:
    """Any of ``items`` (two or more)."""

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _check_items("or", self.items)

    def to_wire(self) -> dict[str, Any]:
        return {"or": [item.to_wire() for item in self.items]}


Expr: TypeAlias = "And | Or | Not | ClassTest | FactFilter | DataTest"
_EXPR_TYPES = (And, Or, Not, ClassTest, FactFilter, DataTest)


def _check_items(kind: str, items: Any) -> None:
    if not isinstance(items, tuple) or len(items) < 2:
        raise FilterSyntaxError(f"'{kind}' needs a tuple of at least two expressions")
    for item in items:
        if not isinstance(item, _EXPR_TYPES):
            raise FilterSyntaxError(f"'{kind}' needs expressions, not {type(item).__name__}")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def expr_size(expr: Expr) -> tuple[int, int]:
    """(node count, depth) of a tree, computed without recursion. Raises
    :class:`FilterSyntaxError` past the limits, and for things that are not trees."""
    count, deepest = 0, 0
    stack: list[tuple[Any, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        if count > MAX_NODES:
            raise FilterSyntaxError(f"compound expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise FilterSyntaxError(f"compound expression is nested deeper than {MAX_DEPTH}")
        if isinstance(node, (And, Or)):
            stack.extend((item, depth + 1) for item in node.items)
        elif isinstance(node, Not):
            stack.append((node.item, depth + 1))
        elif not isinstance(node, _EXPR_TYPES):
            raise FilterSyntaxError(
                f"not a compound expression: {type(node).__name__}")
    return count, deepest


# --- wire form -----------------------------------------------------------------------


def expr_from_wire(obj: Any) -> Expr:
    """Rebuild and validate a tree from its JSON form (as it arrives from the network).

    Raises only :class:`FilterSyntaxError`; depth and size are bounded.
    """
    budget = [MAX_NODES]
    return _from_wire(obj, 1, budget)


_DATA_KEYS: Final = frozenset({"data", "query", "output", "operator", "value"})


def _from_wire(obj: Any, depth: int, budget: list[int]) -> Expr:
    if depth > MAX_DEPTH:
        raise FilterSyntaxError(f"compound expression is nested deeper than {MAX_DEPTH}")
    budget[0] -= 1
    if budget[0] < 0:
        raise FilterSyntaxError(f"compound expression has more than {MAX_NODES} parts")
    if not isinstance(obj, dict):
        raise FilterSyntaxError(
            f"compound expression parts must be objects, not {type(obj).__name__}")
    if "and" in obj or "or" in obj:
        kind = "and" if "and" in obj else "or"
        if len(obj) != 1:
            raise FilterSyntaxError(f"compound '{kind}' must be the only key of its object")
        items = obj[kind]
        if not isinstance(items, list) or len(items) < 2:
            raise FilterSyntaxError(f"compound '{kind}' needs a list of at least two parts")
        parsed = tuple(_from_wire(item, depth + 1, budget) for item in items)
        return And(parsed) if kind == "and" else Or(parsed)
    if "not" in obj:
        if len(obj) != 1:
            raise FilterSyntaxError("compound 'not' must be the only key of its object")
        return Not(_from_wire(obj["not"], depth + 1, budget))
    if "class" in obj:
        if len(obj) != 1:
            raise FilterSyntaxError("compound 'class' must be the only key of its object")
        return ClassTest(obj["class"])
    if "fact" in obj:
        return FactFilter.from_dict(obj)
    if "data" in obj:
        extra = set(obj) - _DATA_KEYS
        if extra:
            raise FilterSyntaxError(
                f"compound data test has unknown key(s) {', '.join(sorted(map(str, extra)))}")
        value = obj.get("value")
        if isinstance(value, (int, float)):
            value = stringify(value)
        return DataTest(obj["data"], obj.get("query"), obj.get("output"),
                        obj.get("operator"), value)
    keys = ", ".join(sorted(map(str, obj))) or "none"
    raise FilterSyntaxError(
        f"unknown compound expression part (keys: {keys}); expected and, or, not, "
        "class, fact or data")


# --- text form -----------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "(", ")", "and", "or", "not", "stmt", "end"
    pos: int
    text: str
    stmt: Any = None


class _Lexer:
    """Turns text into tokens one at a time, so that the first error in reading order
    is the one reported."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.n = len(text)

    def error(self, message: str, position: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=self.text, position=position)

    def skip_space(self) -> None:
        text, n, pos = self.text, self.n, self.pos
        while pos < n and text[pos].isspace():
            pos += 1
        self.pos = pos

    def next(self) -> _Token:
        self.skip_space()
        text, pos = self.text, self.pos
        if pos >= self.n:
            return _Token("end", pos, "")
        c = text[pos]
        if c in "()":
            self.pos += 1
            return _Token(c, pos, c)
        if c == "!":
            if text.startswith(("!=", "!~"), pos):
                raise self.error(f"'{text[pos:pos + 2]}' needs a fact name before it", pos)
            self.pos += 1
            return _Token("not", pos, "!")
        if text.startswith("&&", pos):
            self.pos += 2
            return _Token("and", pos, "&&")
        if text.startswith("||", pos):
            self.pos += 2
            return _Token("or", pos, "||")
        if c == "/":
            body = self.regex()
            self.after_regex_statement()
            return _Token("stmt", pos, text[pos:self.pos], ClassTest(f"/{body}/"))
        m = _WORD.match(text, pos)
        if m is None:
            if c in "=<>~":
                raise self.error(f"'{c}' needs a fact name before it", pos)
            raise self.error(f"unexpected character {c!r}", pos)
        word = m.group()
        self.pos = m.end()
        if word in _KEYWORDS:
            return _Token(_KEYWORDS[word], pos, word)
        if self.pos < self.n and text[self.pos] == "(":
            stmt = self.function(word, pos)
        else:
            stmt = self.fact_or_class(word, pos)
        self.check_delimiter()
        return _Token("stmt", pos, text[pos:self.pos], stmt)

    # statements

    def fact_or_class(self, word: str, start: int) -> Expr:
        save = self.pos
        self.skip_space()
        written = self.operator()
        if written is None:
            self.pos = save
            return ClassTest(word)
        op_pos = self.pos - len(written)
        op, value = self.comparison(written, op_pos)
        try:
            return FactFilter(word, op, value)
        except FilterSyntaxError as exc:
            raise self.error(str(exc), op_pos) from None

    def function(self, name: str, start: int) -> Expr:
        text = self.text
        if not _PLUGIN_NAME.fullmatch(name):
            raise self.error(f"invalid data plugin name {name!r}", start)
        open_pos = self.pos
        self.pos += 1
        args: list[str] = []
        while True:
            self.skip_space()
            if self.pos >= self.n:
                raise self.error(f"unterminated call of '{name}(' (missing ')')", open_pos)
            c = text[self.pos]
            if c == ")" and not args:
                self.pos += 1
                break
            if c not in "'\"":
                raise self.error(
                    "data plugin arguments must be quoted, e.g. fact('os.family')", self.pos)
            args.append(self.quoted())
            self.skip_space()
            if self.pos < self.n and text[self.pos] == ")":
                self.pos += 1
                break
            if self.pos < self.n and text[self.pos] == ",":
                self.pos += 1
                self.skip_space()
                if self.pos < self.n and text[self.pos] in "'\"":
                    raise self.error("data plugins take a single argument", self.pos)
                raise self.error("expected a quoted argument after ','", self.pos)
            if self.pos >= self.n:
                raise self.error(f"unterminated call of '{name}(' (missing ')')", open_pos)
            raise self.error("expected ')' after the argument", self.pos)
        output = None
        if self.pos < self.n and text[self.pos] == ".":
            m = _OUTPUT_NAME.match(text, self.pos + 1)
            if m is None:
                raise self.error("expected an output name after '.'", self.pos + 1)
            output = m.group()
            self.pos = m.end()
            if self.pos < self.n and text[self.pos] == ".":
                raise self.error("only one output accessor is allowed", self.pos)
        query = args[0] if args else None
        save = self.pos
        self.skip_space()
        written = self.operator()
        if name == "with":
            if written is None:
                self.pos = save
            return self.with_call(query, output, written, start)
        if written is None:
            self.pos = save
            return DataTest(name, query, output)
        op_pos = self.pos - len(written)
        op, value = self.comparison(written, op_pos)
        try:
            return DataTest(name, query, output, op, value)
        except FilterSyntaxError as exc:
            raise self.error(str(exc), op_pos) from None

    def with_call(self, query: str | None, output: str | None, written: str | None,
                  start: int) -> Expr:
        """Choria's ``with('apache')`` / ``with('country=uk')`` / ``with('/^web/')``: one
        class or fact test, written the way Choria's expression language (and so Choria
        inventory files) writes it. It becomes the plain test, so nodes that never heard
        of ``with`` answer it; without this it would be read as a call of a data plugin
        named ``with`` and match nothing."""
        usage = "with() takes one quoted class or fact test, e.g. with('apache') or " \
                "with('country=uk')"
        if query is None or output is not None or written is not None:
            raise self.error(usage, start)
        try:
            inner = _Parser(query).parse()
        except FilterSyntaxError as exc:
            raise self.error(f"in with({query!r}): {exc.args[0] if exc.args else exc}",
                             start) from None
        if not isinstance(inner, ClassTest | FactFilter):
            raise self.error(usage, start)
        return inner

    def operator(self) -> str | None:
        for op in _WRITTEN_OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return None

    def comparison(self, written: str, op_pos: int) -> tuple[str, str]:
        """Read the value after an operator; returns (canonical operator, value)."""
        self.skip_space()
        text, pos = self.text, self.pos
        if pos >= self.n or text[pos] in "()":
            raise self.error(f"missing value after '{written}'", pos)
        c = text[pos]
        if c in "=<>~":
            raise self.error(f"malformed operator '{written}{c}'", pos)
        op = _ALIASES.get(written, written)
        if c == "/":
            body = self.regex()
            self.check_delimiter()
            if op in ("==", "=~"):
                return "=~", f"/{body}/"
            if op in ("!=", "!~"):
                return "!~", f"/{body}/"
            raise self.error(
                f"a regular expression cannot be compared with '{written}'", op_pos)
        value = self.value()
        if op in REGEX_OPERATORS:
            compile_regex(regex_body(value), text=self.text, position=pos)
        return op, value

    def value(self) -> str:
        """A bare word, quoted pieces, or both run together (``a'b c'`` is ``ab c``)."""
        text, n = self.text, self.n
        parts: list[str] = []
        while self.pos < n:
            c = text[self.pos]
            if c.isspace() or c == ")":
                break
            if c == "(":
                raise self.error("'(' in a value must be quoted", self.pos)
            if c in "'\"":
                parts.append(self.quoted())
                continue
            start = self.pos
            while self.pos < n and not (
                    text[self.pos].isspace() or text[self.pos] in "()'\""):
                self.pos += 1
            parts.append(text[start:self.pos])
        return "".join(parts)

    def quoted(self) -> str:
        text, n = self.text, self.n
        quote, start = text[self.pos], self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < n:
            c = text[self.pos]
            if c == "\\" and self.pos + 1 < n and text[self.pos + 1] in (quote, "\\"):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(out)
            out.append(c)
            self.pos += 1
        raise self.error(f"unterminated {quote} quote", start)

    def regex(self) -> str:
        """Read ``/body/`` (``\\/`` escapes a slash); returns the body, compiled once to
        report errors here rather than on the node."""
        text, n, start = self.text, self.n, self.pos
        pos = start + 1
        while pos < n:
            c = text[pos]
            if c == "\\":
                pos += 2
                continue
            if c == "/":
                break
            pos += 1
        if pos >= n:
            raise self.error("unterminated regular expression (missing closing '/')", start)
        body = text[start + 1:pos]
        self.pos = pos + 1
        compile_regex(body, text=text, position=start)
        return body

    def after_regex_statement(self) -> None:
        save = self.pos
        self.skip_space()
        written = self.operator()
        if written is not None:
            raise self.error(
                "a regular expression is a class test and cannot be compared; "
                "use fact=/regex/ to match a fact", self.pos - len(written))
        self.pos = save
        self.check_delimiter()

    def check_delimiter(self) -> None:
        pos = self.pos
        if pos < self.n:
            c = self.text[pos]
            if not (c.isspace() or c in "()" or self.text.startswith(("&&", "||"), pos)):
                raise self.error(f"unexpected {c!r}", pos)


class _Parser:
    """Recursive descent: ``or`` < ``and`` < ``not`` < parentheses/statements."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lexer = _Lexer(text)
        self.prev: _Token | None = None
        self.tok = self.lexer.next()
        self.count = 0

    def error(self, message: str, position: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=self.text, position=position)

    def advance(self) -> None:
        self.prev, self.tok = self.tok, self.lexer.next()

    def parse(self) -> Expr:
        if self.tok.kind == "end":
            raise self.error("empty compound expression", 0)
        expr = self.parse_or(1)
        tok = self.tok
        if tok.kind == ")":
            raise self.error("unbalanced ')' (no matching '(')", tok.pos)
        if tok.kind != "end":
            raise self.error(
                f"missing 'and' or 'or' before {tok.text!r}", tok.pos)
        return expr

    def bump(self) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(f"compound expression has more than {MAX_NODES} parts",
                             self.tok.pos)

    def parse_or(self, depth: int) -> Expr:
        items = [self.parse_and(depth)]
        while self.tok.kind == "or":
            self.advance()
            items.append(self.parse_and(depth))
        if len(items) == 1:
            return items[0]
        self.bump()
        return Or(tuple(items))

    def parse_and(self, depth: int) -> Expr:
        items = [self.parse_not(depth)]
        while self.tok.kind == "and":
            self.advance()
            items.append(self.parse_not(depth))
        if len(items) == 1:
            return items[0]
        self.bump()
        return And(tuple(items))

    def parse_not(self, depth: int) -> Expr:
        if self.tok.kind == "not":
            if depth >= MAX_DEPTH:
                raise self.error(f"expression is nested deeper than {MAX_DEPTH}", self.tok.pos)
            self.advance()
            self.bump()
            return Not(self.parse_not(depth + 1))
        return self.parse_primary(depth)

    def parse_primary(self, depth: int) -> Expr:
        tok, prev = self.tok, self.prev
        if tok.kind == "stmt":
            self.advance()
            self.bump()
            return tok.stmt
        if tok.kind == "(":
            if depth >= MAX_DEPTH:
                raise self.error(f"expression is nested deeper than {MAX_DEPTH}", tok.pos)
            self.advance()
            if self.tok.kind == ")":
                raise self.error("empty parentheses '()'", tok.pos)
            expr = self.parse_or(depth + 1)
            if self.tok.kind == ")":
                self.advance()
                return expr
            if self.tok.kind == "end":
                raise self.error("unclosed '(' (missing ')')", tok.pos)
            raise self.error(f"missing 'and' or 'or' before {self.tok.text!r}", self.tok.pos)
        # tok is an operator, ')' or the end: a statement is missing here.
        if tok.kind in ("and", "or"):
            if prev is None:
                raise self.error(f"expression cannot start with '{tok.text}'", tok.pos)
            if prev.kind == "(":
                raise self.error(f"'{tok.text}' cannot follow '('", tok.pos)
            raise self.error(f"'{tok.text}' cannot follow '{prev.text}'", tok.pos)
        if prev is None:
            raise self.error("unbalanced ')' (no matching '(')", tok.pos)
        if prev.kind == "(" and tok.kind == "end":
            raise self.error("unclosed '(' (missing ')')", prev.pos)
        if tok.kind == "end":
            raise self.error(f"expression cannot end with '{prev.text}'", prev.pos)
        raise self.error(f"'{prev.text}' needs a statement after it", prev.pos)


def parse_compound(text: str) -> Expr:
    """Parse a ``-S`` expression into a tree; :class:`FilterSyntaxError` (with the
    position) for anything malformed, so bad expressions never leave the client."""
    if not isinstance(text, str):
        raise FilterSyntaxError(
            f"a compound expression must be a string, not {type(text).__name__}")
    expr = _Parser(text).parse()
    try:
        expr_size(expr)
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(str(exc), text=text, position=0) from None
    return expr


# --- evaluation ----------------------------------------------------------------------


class DataUnavailable(Exception):
    """A data plugin is missing or failed: the node cannot answer the expression."""


Compiled: TypeAlias = Callable[["Node", "dict[tuple[str, str | None], Any] | None"], bool]


def data_queries(expr: Expr) -> tuple[tuple[str, str | None], ...]:
    """The distinct ``(plugin, query)`` pairs an expression asks, in reading order."""
    found: dict[tuple[str, str | None], None] = {}
    stack: list[Any] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, DataTest):
            found[(node.plugin, node.query)] = None
        elif isinstance(node, (And, Or)):
            stack.extend(reversed(node.items))
        elif isinstance(node, Not):
            stack.append(node.item)
    return tuple(found)


def fetch_data(
    node: Node, queries: tuple[tuple[str, str | None], ...],
) -> dict[tuple[str, str | None], Any] | None:
    """Ask every data query of an expression up front, as the original did.

    Returns the answers, or ``None`` when any plugin is missing or failed: then the
    node cannot answer the expression at all and it is false, whatever ``not``/``or``
    surround the function. Asking everything first keeps the result independent of
    the order of the operands (``a or f()`` and ``f() or a`` agree).
    """
    lookup = node.data
    if lookup is None:
        return None
    answers: dict[tuple[str, str | None], Any] = {}
    for key in queries:
        name, query = key
        try:
            result = lookup(name, query)
        except Exception as exc:
            log.warning("data plugin '%s' failed for %r: %s", name, query, exc)
            return None
        if not isinstance(result, Mapping):
            return None
        answers[key] = result
    return answers


def compile_expr(expr: Expr) -> Compiled:
    """Closures for a (validated, bounded) tree: ``f(node, answers) -> bool``.
    ``answers`` holds the data-plugin answers fetched by :func:`fetch_data` (``None``
    when the expression has no data test)."""
    if isinstance(expr, And):
        parts = [compile_expr(item) for item in expr.items]
        if len(parts) == 2:
            a, b = parts
            return lambda node, answers: a(node, answers) and b(node, answers)
        return lambda node, answers: all(p(node, answers) for p in parts)
    if isinstance(expr, Or):
        parts = [compile_expr(item) for item in expr.items]
        if len(parts) == 2:
            a, b = parts
            return lambda node, answers: a(node, answers) or b(node, answers)
        return lambda node, answers: any(p(node, answers) for p in parts)
    if isinstance(expr, Not):
        inner = compile_expr(expr.item)
        return lambda node, answers: not inner(node, answers)
    if isinstance(expr, ClassTest):
        check = class_predicate(expr.name)
        return lambda node, answers: check(node)
    if isinstance(expr, FactFilter):
        fact = fact_predicate(expr)
        return lambda node, answers: fact(node)
    if isinstance(expr, DataTest):
        return _compile_data(expr)
    raise FilterSyntaxError(f"not a compound expression: {type(expr).__name__}")


def class_predicate(entry: str) -> Callable[[Node], bool]:
    literal, regex = name_entry("class", entry)
    if regex is None:
        return lambda node: literal in node.classes
    search = regex.search
    return lambda node: any(search(c) for c in node.classes)


def _compile_data(test: DataTest) -> Compiled:
    key, output = (test.plugin, test.query), test.output
    compare = (value_test(test.operator, test.value)
               if test.operator is not None and test.value is not None else truthy)

    def evaluate(node: Node, answers: dict[tuple[str, str | None], Any] | None) -> bool:
        result = answers.get(key) if answers is not None else None
        if result is None:  # not fetched: only when compiled trees are misused
            raise DataUnavailable(key[0])
        value = _output(result, output)
        if value is MISSING or value is None:
            return False
        return compare(value)

    return evaluate


def _output(result: Mapping[str, Any], output: str | None) -> Any:
    if output is not None:
        return result.get(output, MISSING)
    if len(result) == 1:
        return next(iter(result.values()))
    return result.get("value", MISSING)


# --- describing ----------------------------------------------------------------------

_OP_WORDS: Final = {
    "==": "equals", "!=": "does not equal", "<": "is less than", ">": "is greater than",
    "<=": "is less than or equal to", ">=": "is greater than or equal to",
    "=~": "matches", "!~": "does not match",
}


def describe_comparison(op: str, value: str) -> str:
    if op in REGEX_OPERATORS:
        return f"{_OP_WORDS[op]} /{regex_body(value)}/"
    return f"{_OP_WORDS[op]} {value!r}"


def describe_class(entry: str) -> str:
    if entry.startswith("/"):
        return f"has a class matching {entry}"
    return f"has class {entry!r}"


def describe_statement(expr: Expr) -> str:
    if isinstance(expr, ClassTest):
        return describe_class(expr.name)
    if isinstance(expr, FactFilter):
        return f"fact {expr.fact!r} {describe_comparison(expr.operator, expr.value)}"
    if isinstance(expr, DataTest):
        call = f"data {expr.call_text()}"
        if expr.output is None:
            call += " (default output)"
        if expr.operator is None or expr.value is None:
            return f"{call} is true"
        return f"{call} {describe_comparison(expr.operator, expr.value)}"
    raise TypeError(type(expr).__name__)


def describe_expr(expr: Expr, indent: str = "  ") -> list[str]:
    """One line per statement; the contents of parentheses one step further in."""
    return _describe(expr, "", indent)


def _describe(expr: Expr, prefix: str, indent: str) -> list[str]:
    """Lines for ``expr``; ``prefix`` ("and ", "not "...) goes before the first line."""
    if isinstance(expr, Not):
        return _describe(expr.item, prefix + "not ", indent)
    if isinstance(expr, (And, Or)):
        if prefix:
            inner = _describe_group(expr, indent)
            return [f"{prefix}(", *(indent + line for line in inner), ")"]
        return _describe_group(expr, indent)
    return [prefix + describe_statement(expr)]


def _describe_group(expr: And | Or, indent: str) -> list[str]:
    word = "and" if isinstance(expr, And) else "or"
    lines: list[str] = []
    for i, item in enumerate(expr.items):
        nested = isinstance(item, (And, Or))
        prefix = f"{word} " if i else ""
        if nested and not prefix:
            inner = _describe_group(item, indent)  # type: ignore[arg-type]
            lines += ["(", *(indent + line for line in inner), ")"]
        else:
            lines += _describe(item, prefix, indent)
    return lines
