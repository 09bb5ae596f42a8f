"""``--filter-replies``: Choria's reply expressions, evaluated without ``eval``.

``mco rpc package status package=bash --filter-replies 'ok() && data("ensure") != "absent"'``

The language is the part of the `expr <https://expr-lang.org>`_ language that Choria
documents for ``choria req --filter-replies`` (go-choria's ``RPCReply.MatchExpr``):

* functions of the reply: ``ok()``, ``aborted()``, ``unknown_action()``,
  ``missing_data()``, ``invalid_data()``, ``unknown_error()`` (its status),
  ``data("path")`` (a value of the reply data: ``data("ensure")``,
  ``data("disks.0.size")``; ``nil`` when absent), ``include(list, value)``,
  ``sender()`` and ``time()`` (when the reply was sent, in Unix seconds);
* variables ``code`` (the status code) and ``msg`` (the status message); any other
  name is ``nil``, as in Choria;
* literals: numbers, ``"strings"`` or ``'strings'``, ``true``, ``false``, ``nil``,
  ``[lists]``; ``value.key`` and ``value[index]`` look inside values;
* operators, loosest first: ``||``/``or``; ``&&``/``and``; ``== != < > <= >=``,
  ``in``, ``not in``, ``matches`` (a regular expression), ``contains``,
  ``startsWith``, ``endsWith``; ``+ -``; ``* / %``; ``!``/``not`` and unary ``-``;
* helpers ``len(x)``, ``lower(s)``, ``upper(s)``, ``trim(s)``, ``string(x)``,
  ``int(x)``, ``float(x)``, ``abs(n)``.

The text is parsed by a `lark <https://lark-parser.readthedocs.io>`_ grammar into a
tree that is compiled into closures; nothing reaches ``eval``. Length and nesting are
bounded. A syntax error, an unknown function or a wrong argument count is a
:class:`ReplyFilterError` before anything is sent. A reply for which the expression
cannot be evaluated (comparing a number with a string, say) or does not give a
boolean is not shown, as in Choria, and :meth:`ReplyFilter.problems` says why.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from mcollective.errors import MCollectiveError

if TYPE_CHECKING:
    from lark import Lark, Tree

    from mcollective.client.results import Result

#: Longest expression accepted, in characters.
MAX_LENGTH: Final = 4096
#: Deepest nesting (parentheses, operators, calls) accepted.
MAX_DEPTH: Final = 64
#: Longest regular expression ``matches`` accepts, and longest list or string that
#: ``+`` may build, so that one expression cannot take the client's memory.
MAX_PATTERN: Final = 1024
MAX_BUILT: Final = 1_000_000

GRAMMAR: Final = r"""
?start: or_

?or_: and_
    | or_ (OR | OR_WORD) and_    -> or_op
?and_: cmp
    | and_ (AND | AND_WORD) cmp  -> and_op
?cmp: sum
    | cmp (CMPOP | CMP_WORD) sum -> compare
    | cmp IN sum                 -> in_op
    | cmp NOT_WORD IN sum        -> not_in
?sum: product
    | sum ADDOP product          -> arith
?product: unary
    | product MULOP unary        -> arith
?unary: postfix
    | (NOT | NOT_WORD) unary     -> not_op
    | "-" unary                  -> neg
    | "+" unary
?postfix: atom
    | postfix "." NAME           -> member
    | postfix "[" or_ "]"        -> index
?atom: NUMBER                    -> number
    | STRING                     -> string
    | TRUE                       -> true
    | FALSE                      -> false
    | NIL                        -> nil
    | NAME "(" [args] ")"        -> call
    | NAME                       -> var
    | "[" [args] "]"             -> array
    | "(" or_ ")"

args: or_ ("," or_)*

OR: "||"
OR_WORD: "or"
AND: "&&"
AND_WORD: "and"
NOT: "!"
NOT_WORD: "not"
IN: "in"
TRUE: "true"
FALSE: "false"
NIL: "nil"
CMPOP: "==" | "!=" | "<=" | ">=" | "<" | ">"
CMP_WORD: "matches" | "contains" | "startsWith" | "endsWith"
ADDOP: "+" | "-"
MULOP: "*" | "/" | "%"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?/
STRING: /"(\\.|[^"\\])*"/ | /'(\\.|[^'\\])*'/

%import common.WS
%ignore WS
"""


class ReplyFilterError(MCollectiveError):
    """The expression cannot be used: syntax, an unknown function, bounds."""


class EvaluationError(Exception):
    """One reply could not be evaluated (kept from the user as a 'problem')."""


Context = Any  # the Result being tested
Compiled = Callable[[Context], Any]


@lru_cache(maxsize=1)
def _parser() -> Lark:
    from lark import Lark

    # LALR: linear time and an explicit stack (no recursion while parsing).
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=True)


def _depth(tree: Tree) -> int:
    """How deep the tree goes, without recursing (a hostile tree cannot overflow)."""
    from lark import Tree

    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in node.children
                     if isinstance(child, Tree))
    return deepest


# --- reply functions ------------------------------------------------------------------------


def data_lookup(data: Any, path: str) -> Any:
    """A value inside reply data by a dotted path (``disks.0.size``; ``\\.`` for a dot
    inside a key), or ``None``. A key that exists as written wins over the path."""
    if isinstance(data, Mapping) and path in data:
        return data[path]
    value = data
    for part in (p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", path)):
        if isinstance(value, Mapping):
            if part not in value:
                return None
            value = value[part]
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            if index >= len(value):
                return None
            value = value[index]
        else:
            return None
    return value


def _include(hay: Any, needle: Any) -> bool:
    if not isinstance(hay, list | tuple):
        raise EvaluationError(f"include() needs a list as its first argument, got "
                              f"{_kind(hay)}")
    return any(_equal(item, needle) for item in hay)


def _status(code: int) -> Callable[[Result], bool]:
    return lambda reply: bool(reply.statuscode == code)


#: name -> (number of arguments, function of (reply, *args)).
REPLY_FUNCTIONS: Final[dict[str, tuple[int, Callable[..., Any]]]] = {
    "ok": (0, _status(0)),
    "aborted": (0, _status(1)),
    "unknown_action": (0, _status(2)),
    "missing_data": (0, _status(3)),
    "invalid_data": (0, _status(4)),
    "unknown_error": (0, _status(5)),
    "data": (1, lambda reply, path: data_lookup(reply.data, _text(path, "data()"))),
    "include": (2, lambda _reply, hay, needle: _include(hay, needle)),
    "sender": (0, lambda reply: reply.sender),
    "time": (0, lambda reply: reply.time),
}


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise EvaluationError(f"{where} needs a string, got {_kind(value)}")
    return value


def _number(value: Any, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EvaluationError(f"{where} needs a number, got {_kind(value)}")
    return value


def _to_int(value: Any) -> int:
    try:
        return int(float(value)) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise EvaluationError(f"int() cannot convert {_kind(value)} {value!r}") from None


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise EvaluationError(f"float() cannot convert {_kind(value)} {value!r}") from None


def _length(value: Any) -> int:
    if isinstance(value, str | list | dict):
        return len(value)
    raise EvaluationError(f"len() needs a string, list or object, got {_kind(value)}")


def _string(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: Helpers that do not look at the reply: name -> (arguments, function).
HELPERS: Final[dict[str, tuple[int, Callable[..., Any]]]] = {
    "len": (1, _length),
    "lower": (1, lambda s: _text(s, "lower()").lower()),
    "upper": (1, lambda s: _text(s, "upper()").upper()),
    "trim": (1, lambda s: _text(s, "trim()").strip()),
    "string": (1, _string),
    "int": (1, _to_int),
    "float": (1, _to_float),
    "abs": (1, lambda n: abs(_number(n, "abs()"))),
}

VARIABLES: Final[dict[str, Callable[[Result], Any]]] = {
    "code": lambda reply: reply.statuscode,
    "msg": lambda reply: reply.statusmsg,
}


# --- operators ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b) and not (a is None or b is None):
        return False
    return bool(a == b)


def _order(op: str, a: Any, b: Any) -> bool:
    if not ((_is_number(a) and _is_number(b)) or
            (isinstance(a, str) and isinstance(b, str))):
        raise EvaluationError(f"cannot compare {_kind(a)} with {_kind(b)} using {op}")
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def _member_of(needle: Any, hay: Any) -> bool:
    if isinstance(hay, list):
        return any(_equal(item, needle) for item in hay)
    if isinstance(hay, dict):
        return isinstance(needle, str) and needle in hay
    if hay is None:
        return False
    raise EvaluationError(f"'in' needs a list or an object on its right, got {_kind(hay)}")


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise EvaluationError(f"a 'matches' pattern may have at most {MAX_PATTERN} "
                              "characters")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise EvaluationError(f"bad regular expression {pattern!r}: {exc}") from None


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op in ("<", ">", "<=", ">="):
        return _order(op, a, b)
    if op == "in":
        return _member_of(a, b)
    if a is None:  # string operators on a missing value: no match, as in expr
        return False
    left = _text(a, f"'{op}'")
    right = _text(b, f"'{op}'")
    if op == "matches":
        return _regex(right).search(left) is not None
    if op == "contains":
        return right in left
    if op == "startsWith":
        return left.startswith(right)
    return left.endswith(right)  # endsWith


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_BUILT:
            raise EvaluationError("a string built by '+' would be too long")
        return a + b
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        if len(a) + len(b) > MAX_BUILT:
            raise EvaluationError("a list built by '+' would be too long")
        return a + b
    x, y = _number(a, f"'{op}'"), _number(b, f"'{op}'")
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        result = x * y
        if isinstance(result, float) and math.isinf(result):
            raise EvaluationError("number too large")
        return result
    if y == 0:
        raise EvaluationError("division by zero")
    if op == "/":
        return x / y
    return x % y


def _truth(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise EvaluationError(f"{where} needs booleans, got {_kind(value)}")
    return value


# --- compiling the tree into closures -------------------------------------------------------


def _compile(tree: Any) -> Compiled:
    from lark import Token

    if isinstance(tree, Token):  # pragma: no cover - the grammar wraps every token
        raise ReplyFilterError(f"unexpected {tree!r}")
    rule = tree.data
    kids = tree.children
    if rule == "number":
        text = str(kids[0])
        value: Any = float(text) if any(c in text for c in ".eE") else int(text)
        return lambda _r: value
    if rule == "string":
        literal = ast.literal_eval(str(kids[0]))
        return lambda _r: literal
    if rule in ("true", "false", "nil"):
        constant = {"true": True, "false": False, "nil": None}[rule]
        return lambda _r: constant
    if rule == "var":
        name = str(kids[0])
        getter = VARIABLES.get(name)
        return getter if getter is not None else (lambda _r: None)
    if rule == "array":
        items = [_compile(k) for k in kids[0].children] if kids[0] is not None else []
        return lambda r: [item(r) for item in items]
    if rule == "call":
        return _compile_call(str(kids[0]), kids[1])
    if rule == "member":
        inner, key = _compile(kids[0]), str(kids[1])
        return lambda r: _member(inner(r), key)
    if rule == "index":
        inner, key_of = _compile(kids[0]), _compile(kids[1])
        return lambda r: _member(inner(r), key_of(r))
    if rule == "not_op":
        operand = _compile(kids[1])
        return lambda r: not _truth(operand(r), "'!'")
    if rule == "neg":
        operand = _compile(kids[0])
        return lambda r: -_number(operand(r), "unary '-'")
    if rule in ("or_op", "and_op"):
        left, right = _compile(kids[0]), _compile(kids[2])
        if rule == "or_op":
            return lambda r: _truth(left(r), "'||'") or _truth(right(r), "'||'")
        return lambda r: _truth(left(r), "'&&'") and _truth(right(r), "'&&'")
    if rule == "compare":
        left, op, right = _compile(kids[0]), str(kids[1]), _compile(kids[2])
        return lambda r: _compare(op, left(r), right(r))
    if rule == "in_op":
        left, right = _compile(kids[0]), _compile(kids[2])
        return lambda r: _member_of(left(r), right(r))
    if rule == "not_in":
        left, right = _compile(kids[0]), _compile(kids[3])
        return lambda r: not _member_of(left(r), right(r))
    if rule == "arith":
        left, op, right = _compile(kids[0]), str(kids[1]), _compile(kids[2])
        return lambda r: _arith(op, left(r), right(r))
    raise ReplyFilterError(f"unsupported construct {rule!r}")  # pragma: no cover


def _member(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key) if isinstance(key, str) else None
    if isinstance(value, list) and _is_number(key) and float(key).is_integer():
        index = int(key)
        return value[index] if -len(value) <= index < len(value) else None
    return None


def _compile_call(name: str, args_tree: Any) -> Compiled:
    args = [_compile(k) for k in args_tree.children] if args_tree is not None else []
    if name in REPLY_FUNCTIONS:
        arity, function = REPLY_FUNCTIONS[name]
        _check_arity(name, arity, len(args))
        return lambda r: function(r, *(a(r) for a in args))
    if name in HELPERS:
        arity, helper = HELPERS[name]
        _check_arity(name, arity, len(args))
        return lambda r: helper(*(a(r) for a in args))
    import difflib

    known = sorted([*REPLY_FUNCTIONS, *HELPERS])
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]}()?" if close else f"; known: {', '.join(known)}"
    raise ReplyFilterError(f"unknown function {name}(){hint}")


def _check_arity(name: str, arity: int, given: int) -> None:
    if arity != given:
        raise ReplyFilterError(f"{name}() takes {arity} argument{'s' * (arity != 1)}, "
                               f"got {given}")


# --- the public object ----------------------------------------------------------------------


class ReplyFilter:
    """A compiled ``--filter-replies`` expression; :meth:`matches` tests one reply."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._test = compile_expression(text)
        #: Why replies were left out other than by a false result: message -> count.
        self.problems: dict[str, int] = {}

    def matches(self, reply: Result) -> bool:
        """Whether to show ``reply``: the expression is true for it. Replies for which
        it cannot be evaluated, or gives no boolean, are not shown (as in Choria)."""
        try:
            value = self._test(reply)
        except EvaluationError as exc:
            self._problem(str(exc))
            return False
        except (RecursionError, OverflowError, MemoryError) as exc:
            self._problem(f"cannot evaluate: {type(exc).__name__}")
            return False
        if not isinstance(value, bool):
            self._problem(f"the expression gave {_kind(value)}, not true or false")
            return False
        return value

    def _problem(self, message: str) -> None:
        self.problems[message] = self.problems.get(message, 0) + 1

    def describe_problems(self) -> list[str]:
        """One line per kind of problem: ``3 replies left out: cannot compare ...``."""
        return [f"{count} repl{'y' if count == 1 else 'ies'} left out by --filter-replies: "
                f"{message}" for message, count in self.problems.items()]

    def filter(self, replies: Sequence[Result]) -> list[Result]:
        return [r for r in replies if self.matches(r)]


def compile_expression(text: str) -> Compiled:
    """Parse and compile ``text``; raises :class:`ReplyFilterError` naming the problem
    (and where it is) for a mistake."""
    from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput

    if not text.strip():
        raise ReplyFilterError("the --filter-replies expression is empty")
    if len(text) > MAX_LENGTH:
        raise ReplyFilterError(f"the --filter-replies expression is longer than "
                               f"{MAX_LENGTH} characters")
    try:
        tree = _parser().parse(text)
    except UnexpectedCharacters as exc:
        raise ReplyFilterError(
            f"cannot parse --filter-replies at column {exc.column}: unexpected "
            f"{text[exc.pos_in_stream or 0:(exc.pos_in_stream or 0) + 1]!r} in "
            f"{text!r}") from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        what = "end of expression" if token is None or token.type == "$END" \
            else repr(str(token))
        column = getattr(exc, "column", "?")
        raise ReplyFilterError(f"cannot parse --filter-replies at column {column}: "
                               f"unexpected {what} in {text!r}") from None
    except (LarkError, RecursionError) as exc:
        raise ReplyFilterError(f"cannot parse --filter-replies {text!r}: {exc}") from None
    if _depth(tree) > MAX_DEPTH:
        raise ReplyFilterError(f"the --filter-replies expression nests deeper than "
                               f"{MAX_DEPTH} levels")
    if tree.data == "string" or tree.data == "number":
        raise ReplyFilterError(f"--filter-replies {text!r} is a constant, not a test; "
                               "e.g. 'ok()' or 'data(\"ensure\") == \"1.2\"'")
    try:
        return _compile(tree)
    except (ValueError, SyntaxError) as exc:  # a string literal with a bad escape
        raise ReplyFilterError(f"cannot read --filter-replies {text!r}: {exc}") from None


__all__ = [
    "HELPERS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "REPLY_FUNCTIONS",
    "ReplyFilter",
    "ReplyFilterError",
    "compile_expression",
    "data_lookup",
]
