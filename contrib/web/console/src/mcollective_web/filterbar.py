"""The filter bar: the ``-F -C -I -A -W -S`` options of ``mco``, typed on one line.

``-F country=uk -C apache -S "cpus > 4 and os.family=Debian"`` means what it means on
the command line: the option names come from the parser every ``mco`` command uses
(:func:`mcollective.cli.options.add_filters`), each value goes through the same client
methods, so the same mistakes give the same messages. A word without an option is a
``-W`` word (a fact filter when it has an operator, else a class), as ``mco`` users type
them after ``-W``.

Errors say where in the bar the problem is (:attr:`FilterBarError.position`, an offset
into the bar's text) as well as the core message, which points its caret into the
offending value.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcollective.errors import FilterSyntaxError, MCollectiveError

if TYPE_CHECKING:
    from mcollective.client.rpc import RPCClient
    from mcollective.client.session import ClientSession
    from mcollective.filters import Filter

#: The bar is one line a person types; a bound keeps hostile input cheap.
MAX_LENGTH = 4096

# argparse destination -> the RPCClient method that takes one value of it.
_METHODS = {
    "facts": "fact_filter", "classes": "class_filter", "agents": "agent_filter",
    "identities": "identity_filter", "compound": "compound_filter", "with_": "with_filter",
}
_LETTERS = {"facts": "-F", "classes": "-C", "agents": "-A", "identities": "-I",
            "compound": "-S", "with_": "-W"}


class FilterBarError(MCollectiveError):
    """A filter that cannot be used; ``position`` is where in the bar (or ``None``)."""

    def __init__(self, message: str, position: int | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        #: The core message with its own caret under the value, as ``mco`` prints it.
        self.detail = detail or message


@functools.cache
def option_names() -> dict[str, str]:
    """Option string -> argparse destination, from the parser ``mco`` uses."""
    from mcollective.cli import options

    parser = argparse.ArgumentParser(add_help=False)
    options.add_filters(parser)
    return {opt: action.dest for action in parser._actions
            for opt in action.option_strings}


@dataclass(frozen=True)
class Term:
    kind: str  # argparse destination: facts, classes, ...
    value: str
    position: int  # where the value starts in the bar


@dataclass(frozen=True)
class FilterSpec:
    """A parsed bar: its text and its terms in order."""

    text: str
    terms: tuple[Term, ...] = field(default_factory=tuple)

    def values(self, kind: str) -> list[str]:
        return [t.value for t in self.terms if t.kind == kind]

    def is_empty(self) -> bool:
        return not self.terms

    def apply(self, client: RPCClient) -> None:
        """Add every term to ``client``; :class:`FilterBarError` for the first bad one."""
        for term in self.terms:
            try:
                getattr(client, _METHODS[term.kind])(term.value)
            except FilterSyntaxError as exc:
                where = term.position + exc.position if exc.position is not None \
                    else term.position
                raise FilterBarError(f"{_LETTERS[term.kind]} {term.value}: "
                                     f"{_first_line(exc)}", where, str(exc)) from None
            except MCollectiveError as exc:
                raise FilterBarError(f"{_LETTERS[term.kind]} {term.value}: {exc}",
                                     term.position) from None

    def to_options(self) -> list[str]:
        """The terms as ``mco`` arguments (for showing the equivalent command)."""
        out: list[str] = []
        for term in self.terms:
            out += [_LETTERS[term.kind], term.value]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {kind: self.values(kind) for kind in _METHODS}


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.split(" at position ", 1)[0].splitlines()[0]


def tokenize(text: str) -> list[tuple[str, int]]:
    """Shell-like words with the offset of each word's first character of content:
    quotes group (``"a b"``), a backslash escapes a quote inside double quotes."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start, content, buf = i, None, []
        while i < n and not text[i].isspace():
            char = text[i]
            if char in "'\"":
                quote, opened = char, i
                i += 1
                if content is None:
                    content = i
                while i < n and text[i] != quote:
                    if quote == '"' and text[i] == "\\" and i + 1 < n and \
                            text[i + 1] in '"\\':
                        i += 1
                    buf.append(text[i])
                    i += 1
                if i >= n:
                    raise FilterBarError("unterminated quote", opened)
                i += 1
            else:
                if content is None:
                    content = i
                buf.append(char)
                i += 1
        out.append(("".join(buf), content if content is not None else start))
    return out


def parse(text: str) -> FilterSpec:
    """Parse the bar's text; :class:`FilterBarError` for an unknown option, an option
    without its value or an over-long bar. Values are checked by :meth:`apply`."""
    if not isinstance(text, str):
        raise FilterBarError("the filter must be text")
    if len(text) > MAX_LENGTH:
        raise FilterBarError(f"the filter is longer than {MAX_LENGTH} characters",
                             MAX_LENGTH)
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        raise FilterBarError("the filter contains control characters")
    names = option_names()
    words = tokenize(text)
    terms: list[Term] = []
    i = 0
    while i < len(words):
        word, pos = words[i]
        if word.startswith("-") and len(word) > 1 and not word[1].isdigit():
            name, value, vpos = word, None, None
            if word.startswith("--") and "=" in word:
                name, _, value = word.partition("=")
                vpos = pos + len(name) + 1
            elif not word.startswith("--") and len(word) > 2 and word[:2] in names:
                name, value, vpos = word[:2], word[2:], pos + 2  # -Fcountry=uk
            dest = names.get(name)
            if dest is None:
                known = ", ".join(sorted(o for o in names if len(o) == 2))
                raise FilterBarError(f"unknown filter option {name}; use {known}", pos)
            if value is None:
                if i + 1 >= len(words):
                    raise FilterBarError(f"{name} needs a value", pos + len(word))
                i += 1
                value, vpos = words[i]
            assert vpos is not None
            terms.append(Term(dest, value, vpos))
        else:
            terms.append(Term("with_", word, pos))
        i += 1
    return FilterSpec(text, tuple(terms))


def check(text: str, session: ClientSession) -> tuple[FilterSpec, Filter]:
    """Parse and check every value (data-plugin functions included) exactly as a call
    would, sending nothing: the bar's live validation. Returns the spec and the
    filter it makes."""
    from mcollective.client.rpc import RPCClient

    spec = parse(text)
    client = RPCClient("rpcutil", session=session)  # connects only when it sends
    spec.apply(client)
    return spec, client.filter
