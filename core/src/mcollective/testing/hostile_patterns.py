"""Hostile regular expressions: the pattern part of the hostile-input suite.

Every place a caller supplies a pattern (fact, class, identity and agent filters,
compound statements, data-plugin outputs in compound statements, agent inputs such as
the process agent's ``pattern``) gets patterns that make a backtracking engine take
exponential time (``(.*)*(.*)*(.*)*x`` against a twenty-character identity runs for
minutes in Python's ``re``). A node compiles them with RE2 (:mod:`mcollective.regex`)
and must keep answering: :func:`check_answers_under_hostile_patterns` floods the nodes
with these requests from one thread while it broadcasts ``rpcutil ping`` from another,
and reports how long each ping took to get every reply.

Use it against real daemons (a :class:`~mcollective.testing.LocalCollective` on any
connector, with any security plugin)::

    from mcollective.testing.hostile_patterns import check_answers_under_hostile_patterns

    report = check_answers_under_hostile_patterns(session, identities)
    assert report.every_ping_answered_within(2.0), report.describe()

The requests are valid and signed by the session's own credentials: the point is that
whoever holds *any* client credential cannot stall a node with a pattern.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcollective.client import ClientSession
    from mcollective.message import Request

__all__ = [
    "AGENT_INPUTS",
    "PATTERNS",
    "PatternReport",
    "check_answers_under_hostile_patterns",
    "hostile_filters",
    "hostile_requests",
    "ping_round",
]

#: Patterns whose cost explodes in a backtracking engine on short texts (identities,
#: class names, md5 sums), and which RE2 matches in linear time. None of them matches
#: any ordinary value, so a node that evaluates them correctly never answers.
PATTERNS: tuple[str, ...] = (
    "(.*)*(.*)*(.*)*\\x01",
    "((.*)*)*(.*)*(.*)*\\x02",
    "^(\\w+\\s?)*\\$$",
    "(a|a?)*(.*)*(.*)*!",
    "(.*.*)*(.*)*=$",
)

#: Agent inputs that are regular expressions: (agent, action, input name). Sent only to
#: agents the node hosts.
AGENT_INPUTS: tuple[tuple[str, str, str], ...] = (
    ("process", "list", "pattern"),
)


def hostile_filters(pattern: str) -> list[tuple[str, dict[str, list[Any]]]]:
    """Every filter position that takes a regular expression, each with ``pattern``:
    (name, wire filter), built as ``mco`` builds them."""
    from mcollective.filters import Filter

    regex = f"/{pattern}/"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("identity", {"identities": [regex]}),
        ("class", {"classes": [regex]}),
        ("agent", {"agents": [regex]}),
        ("fact", {"facts": [f"hostile_fact=~{regex}"]}),
        ("fact-structured", {"facts": [f"os.family=~{regex}"]}),
        ("compound-class", {"compound": [regex]}),
        ("compound-fact", {"compound": [f"hostile_fact=~{regex}"]}),
        ("data-plugin", {"compound": [f"fstat('/etc/hosts').md5=~{regex}"]}),
        ("data-plugin-fact", {"compound": [f"fact('hostile_fact').value=~{regex}"]}),
    ]
    return [(name, Filter.build(**kw).to_dict()) for name, kw in cases]


def hostile_requests(session: ClientSession, *, agents: Iterable[str] = ("process",)
                     ) -> list[tuple[str, Request]]:
    """A request per (pattern, filter position), and per (pattern, agent input) for the
    ``agents`` given: (case name, request)."""
    hosted = set(agents)
    out: list[tuple[str, Request]] = []
    for number, pattern in enumerate(PATTERNS):
        for where, filt in hostile_filters(pattern):
            request = session.new_request("rpcutil", "ping", {}, filter=filt, ttl=60)
            out.append((f"{where}#{number}", request))
        for agent, action, name in AGENT_INPUTS:
            if agent in hosted:
                request = session.new_request(agent, action, {name: pattern}, ttl=60)
                out.append((f"{agent}.{name}#{number}", request))
    return out


def ping_round(session: ClientSession, identities: Sequence[str], timeout: float
               ) -> tuple[float | None, set[str]]:
    """One broadcast ``rpcutil ping``: (seconds until every identity answered, or
    ``None`` if some did not within ``timeout``; who answered)."""
    request = session.new_request("rpcutil", "ping", {}, ttl=60)
    replies = session.expect(request.id)
    answered: set[str] = set()
    started = time.monotonic()
    try:
        session.publish(request)
        deadline = started + timeout
        while len(answered) < len(identities):
            left = deadline - time.monotonic()
            if left <= 0:
                return None, answered
            for reply, _arrived in replies.take(min(left, 0.5)):
                answered.add(reply.sender)
        return time.monotonic() - started, answered
    finally:
        session.forget(request.id)


@dataclass
class PatternReport:
    """What :func:`check_answers_under_hostile_patterns` measured."""

    #: Seconds each ping round took to get every reply (``None``: some never came).
    rounds: list[float | None] = field(default_factory=list)
    #: Identities missing from each incomplete round.
    missing: list[set[str]] = field(default_factory=list)
    #: Hostile requests published, by case.
    sent: dict[str, int] = field(default_factory=dict)
    #: Hostile requests the caller's security plugin refused to sign, by case.
    refused: dict[str, int] = field(default_factory=dict)

    def every_ping_answered_within(self, seconds: float) -> bool:
        return bool(self.rounds) and all(r is not None and r <= seconds for r in self.rounds)

    def describe(self) -> str:
        shown = ", ".join("lost" if r is None else f"{r:.2f}s" for r in self.rounds)
        missing = sorted(set().union(*self.missing)) if self.missing else []
        return (f"{len(self.rounds)} ping rounds: {shown}; missing: {missing}; "
                f"{sum(self.sent.values())} hostile requests in {len(self.sent)} cases")


def check_answers_under_hostile_patterns(
    session: ClientSession, identities: Sequence[str], *, rounds: int = 5,
    ping_timeout: float = 20.0, agents: Iterable[str] = ("process",),
    repeat: int = 2, targets: Callable[[str], Sequence[str] | None] | None = None,
) -> PatternReport:
    """Flood ``identities`` with every hostile pattern request (``repeat`` times each)
    from one thread while broadcasting ``rounds`` pings from this one; return the
    timings. ``agents``: which regex-taking agents the nodes host. ``targets`` maps a
    case name to direct-addressing targets (``None``: broadcast)."""
    from mcollective.errors import SecurityError

    report = PatternReport()
    requests = hostile_requests(session, agents=agents)
    done = threading.Event()

    def flood() -> None:
        for _ in range(repeat):
            for case, template in requests:
                if done.is_set():
                    return
                request = session.new_request(
                    template.agent, template.action or "", dict(template.data),
                    filter=template.filter, ttl=60)
                try:
                    session.publish(request, targets=targets(case) if targets else None)
                except SecurityError:
                    # The caller's own plugin will not sign it (a jwt token without
                    # that agent): no node would accept it either.
                    report.refused[case] = report.refused.get(case, 0) + 1
                    continue
                report.sent[case] = report.sent.get(case, 0) + 1

    flooder = threading.Thread(target=flood, name="hostile-patterns", daemon=True)
    flooder.start()
    # At least ``rounds`` pings, and pings for as long as the flood lasts (up to a
    # bound): on a loaded machine the flood may be slower than the pings, and a node
    # must keep answering until the last hostile request is in.
    give_up = time.monotonic() + 300
    try:
        while len(report.rounds) < rounds or (flooder.is_alive()
                                             and time.monotonic() < give_up):
            elapsed, answered = ping_round(session, identities, ping_timeout)
            report.rounds.append(elapsed)
            if elapsed is None:
                report.missing.append(set(identities) - answered)
    finally:
        done.set()
        flooder.join(60)
    return report

