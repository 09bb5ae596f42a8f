"""What a client token lets its caller do: the ``agents`` claim.

Entries are ``*`` (everything), ``AGENT.*`` (every action of one agent) or
``AGENT.ACTION``, as in Choria's ``agents`` claim. The ``discovery`` agent is always
allowed: without it a client could not find the nodes it may act on, and it only answers
whether a node matches a filter. Entries are checked strictly when a token is issued and
when it is read, so a typo ("rpcutil" for "rpcutil.*") is an error instead of a token
that silently allows nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

ALWAYS_ALLOWED_AGENTS = frozenset({"discovery"})

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_\-]*"
_ENTRY = re.compile(rf"\*|{_NAME}\.(\*|{_NAME})")


def check_entry(entry: object) -> str:
    """``entry`` if it is a valid allow-list entry; ValueError saying why not."""
    if not isinstance(entry, str) or not _ENTRY.fullmatch(entry):
        hint = ""
        if isinstance(entry, str) and re.fullmatch(_NAME, entry):
            hint = f"; did you mean '{entry}.*' (every action) or '{entry}.ACTION'?"
        raise ValueError(f"allow-list entry {entry!r} is not '*', 'AGENT.*' or "
                         f"'AGENT.ACTION'{hint}")
    return entry


def parse(text: str | Iterable[str]) -> tuple[str, ...]:
    """Entries from a comma-separated string or a list, checked, duplicates removed."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        entry = check_entry(item.strip() if isinstance(item, str) else item)
        if entry not in out:
            out.append(entry)
    return tuple(out)


def allows(entries: Sequence[str], agent: str, action: str | None) -> bool:
    """May a caller holding ``entries`` call ``agent``'s ``action``?

    A request without an action is only covered by ``*`` and ``AGENT.*``.
    """
    if agent in ALWAYS_ALLOWED_AGENTS:
        return True
    for entry in entries:
        if entry == "*":
            return True
        entry_agent, _, entry_action = entry.partition(".")
        if entry_agent == agent and (entry_action == "*" or entry_action == action):
            return True
    return False


def describe(entries: Sequence[str]) -> str:
    return ", ".join(entries) if entries else "nothing but discovery"
