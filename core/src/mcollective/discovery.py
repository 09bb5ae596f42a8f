"""What a discovery method provides: the identities of the nodes matching a filter.

A method is a plugin in ``mcollective.discovery`` (chosen with ``--dm`` or
``default_discovery_method``). It declares which filter kinds it can evaluate
(:attr:`DiscoveryMethod.capabilities`); the client refuses a filter that uses any other
kind before anything is sent, because a method that silently ignored a ``-F`` would
address nodes the user meant to exclude. Methods that read a list (``flatfile``,
``stdin``, ``inventory``) are not broadcasts: requests then go to each node directly.

The rules are documented for users in ``docs/discovery.md``.
"""

from __future__ import annotations

import re
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from mcollective.errors import MCollectiveError

if TYPE_CHECKING:
    from mcollective.client.replies import ReplyQueue
    from mcollective.client.session import ClientSession
    from mcollective.config import Config
    from mcollective.filters import Filter
    from mcollective.message import Reply

#: Filter kinds, as capabilities name them.
ALL_CAPABILITIES = frozenset({"identity", "facts", "classes", "agents", "compound"})

#: What a node identity may look like in a node list (MCollective's rule).
IDENTITY_RE = re.compile(r"^[\w.\-]+$")

_KIND_OPTIONS = {"facts": "-F", "classes": "-C", "agents": "-A", "identity": "-I",
                 "compound": "-S"}


class DiscoveryError(MCollectiveError):
    """Discovery could not run: a bad node list, a missing file, an unsupported filter."""


@dataclass
class DiscoveryRequest:
    """Everything a discovery method may need for one discovery.

    ``filter`` is the effective filter (the client's own agent included);
    ``own_agent`` names that agent so list-based methods can tell it from a user's
    ``-A``. ``options`` are the ``--do`` values. ``stdin`` is where the ``stdin`` method
    reads (a stream, or text already read by the stdin auto-detection).
    ``on_node``, when given, is called with each identity as soon as a broadcast method
    finds it (a console shows nodes as they answer); list methods need not call it.
    """

    session: ClientSession | None
    filter: Filter
    collective: str
    timeout: float
    #: Adaptive window: stop this long after the last reply (broadcast methods).
    window: float
    limit: int | None = None
    options: list[str] = field(default_factory=list)
    config: Config | None = None
    own_agent: str | None = None
    stdin: TextIO | str | None = None
    on_node: Callable[[str], None] | None = None

    def option_map(self, *, positional: str | None = None,
                   known: Iterable[str] = ()) -> dict[str, str]:
        """``--do key=value`` options as a mapping. A bare ``--do VALUE`` is stored under
        ``positional`` (``--do nodes.txt`` means ``--do file=nodes.txt``); an unknown key
        is an error naming the known ones."""
        allowed = set(known)
        out: dict[str, str] = {}
        for option in self.options:
            key, sep, value = option.partition("=")
            if not sep:
                if positional is None:
                    raise DiscoveryError(f"discovery option {option!r} needs the form "
                                         f"key=value ({', '.join(sorted(allowed))})")
                key, value = positional, option
            elif allowed and key not in allowed:
                if positional is not None:
                    # A value that merely contains '=' (a path): positional after all.
                    key, value = positional, option
                else:
                    raise DiscoveryError(f"unknown discovery option {key!r}; known: "
                                         f"{', '.join(sorted(allowed))}")
            out[key] = value
        return out

    def read_stdin(self) -> str:
        source = self.stdin if self.stdin is not None else sys.stdin
        if isinstance(source, str):
            return source
        if source.isatty():
            raise DiscoveryError("the stdin discovery method reads a node list from "
                                 "standard input, but it is a terminal")
        return source.read()


class DiscoveryMethod(ABC):
    """A way to find nodes. Subclasses implement :meth:`discover`.

    The class is its own plugin object (its ``mco_discovery_create`` hook returns an
    instance), so an entry point can name the class.
    """

    name: ClassVar[str] = ""
    #: Seconds a discovery may take when the user gives no ``--dt``.
    default_timeout: ClassVar[float] = 2.0
    #: Filter kinds the method can evaluate; using others is an error.
    capabilities: ClassVar[frozenset[str]] = ALL_CAPABILITIES
    #: Whether results come from the network (broadcast) rather than a list; lists are
    #: addressed directly, node by node.
    broadcast: ClassVar[bool] = False
    #: Whether ``--dt`` means anything to the method (reading a list takes no time).
    uses_timeout: ClassVar[bool] = True

    @abstractmethod
    def discover(self, request: DiscoveryRequest) -> list[str]:
        """Identities of matching nodes, in discovery order, without duplicates."""

    def check_filter(self, flt: Filter, *, own_agent: str | None = None,
                     method: str | None = None) -> None:
        """Refuse a filter using kinds this method cannot evaluate."""
        unsupported = filter_kinds(flt, own_agent=own_agent) - self.capabilities
        if unsupported:
            named = ", ".join(f"{_KIND_OPTIONS[k]} ({k})" for k in sorted(unsupported))
            can = ", ".join(f"{_KIND_OPTIONS[k]}" for k in sorted(self.capabilities)) or \
                "no filters"
            raise DiscoveryError(
                f"the {method or self.name} discovery method cannot use {named} filters; "
                f"it supports {can}. Use --dm mc (or --dm inventory) for other filters")


def filter_kinds(flt: Filter, *, own_agent: str | None = None) -> set[str]:
    """The kinds a filter uses. The client's own agent (and ``mcollective``, which every
    node has) is not a user's agent filter."""
    kinds: set[str] = set()
    if flt.facts:
        kinds.add("facts")
    if flt.classes:
        kinds.add("classes")
    if any(a not in (own_agent, "mcollective") for a in flt.agents):
        kinds.add("agents")
    if flt.identities:
        kinds.add("identity")
    if flt.compound:
        kinds.add("compound")
    return kinds


def check_identity(identity: Any, where: str) -> str:
    """A node list entry, validated: lists come from files and pipes, and an identity
    with spaces or slashes is always a mistake (a pasted table, a path)."""
    if not isinstance(identity, str) or not IDENTITY_RE.match(identity):
        raise DiscoveryError(f"{where}: {identity!r} is not a valid node identity "
                             "(letters, digits, '_', '-' and '.')")
    return identity


def select_identities(nodes: Iterable[str], flt: Filter) -> list[str]:
    """Apply the filter's ``-I`` entries to a node list locally (any entry may match);
    without ``-I`` every node is kept. Duplicates are dropped, order kept."""
    from mcollective.filters import Filter, Node

    unique = list(dict.fromkeys(nodes))
    if not flt.identities:
        return unique
    check = Filter(identities=flt.identities)
    return [n for n in unique if check.matches(Node(identity=n))]


#: The shortest grace for newcomers after every expected node answered (seconds).
GRACE_MIN = 0.02
#: ... else this fraction of the time the expected nodes took to answer. 1: as long
#: again. Measured with bench/cli.py (100 daemons, RabbitMQ, loaded machine): at 0.5,
#: nodes scheduled late and missing from the list were missed in some runs (86 replies
#: of 1,400); the order in which nodes answer changes from run to run, so a node left
#: out usually answers before the last listed one, and the list heals.
GRACE_FACTOR = 1.0


def grace(elapsed: float, window: float) -> float:
    """How long to keep listening for nodes not expected (new since the cached
    discovery) once every expected node answered ``elapsed`` seconds after the request:
    as long again, at least GRACE_MIN, at most the discovery window. A node that
    joined is as fast as its peers, so it answers within the spread of theirs; one
    slower than that is found by the next discovery (docs/discovery.md)."""
    return min(window, max(GRACE_MIN, GRACE_FACTOR * elapsed))


__all__ = [
    "ALL_CAPABILITIES",
    "GRACE_MIN",
    "IDENTITY_RE",
    "DiscoveryError",
    "DiscoveryMethod",
    "DiscoveryRequest",
    "check_identity",
    "collect_expected",
    "filter_kinds",
    "grace",
    "select_identities",
]


def collect_adaptively(replies: ReplyQueue, *, started: float, timeout: float,
                       window: float, limit: int | None = None
                       ) -> Iterator[tuple[Reply, float]]:
    """Yield ``(reply, seconds since started)`` for each new sender, until the replies
    stop coming.

    The wait ends ``timeout`` seconds after ``started`` at the latest, as soon as
    ``limit`` senders answered, or once no reply came for the *idle window*: at least
    ``window``, stretched to twice the first reply's latency and twice the widest gap
    seen so far. On a quiet machine that is just ``window``; on a loaded one, where
    replies come slower and further apart, the window grows with them instead of cutting
    off a node that was merely scheduled late.
    """
    deadline = started + timeout
    seen: set[str] = set()
    last: float | None = None
    idle = window
    while limit is None or len(seen) < limit:
        now = time.monotonic()
        wait = deadline - now if last is None else min(deadline, last + idle) - now
        if wait <= 0:
            return
        batch = replies.take(wait)
        if not batch:
            return
        for reply, arrived in batch:
            gap = arrived - (last if last is not None else started)
            idle = max(idle, 2 * gap) if last is not None else max(window, 2 * gap)
            last = arrived
            if reply.sender in seen:
                continue
            seen.add(reply.sender)
            yield reply, arrived - started
            if limit is not None and len(seen) >= limit:
                return


def collect_expected(replies: ReplyQueue, *, started: float, timeout: float,
                     window: float, expected: set[str]) -> Iterator[tuple[Reply, float]]:
    """Like :func:`collect_adaptively`, for a broadcast whose answer is expected (the
    nodes of a fresh discovery cache entry): it also ends :func:`grace` after every
    expected node answered, instead of waiting an idle window. Nodes not expected
    are yielded too (newcomers); once one answered, the list is known to be short and
    only the idle window ends the wait (so that a list shortened by one cut-off
    discovery heals at the next run instead of staying short)."""
    deadline = started + timeout
    seen: set[str] = set()
    missing = set(expected)
    last: float | None = None
    idle = window
    done: float | None = None
    surprised = False
    while True:
        end = deadline if last is None else min(deadline, last + idle)
        if done is not None:
            end = min(end, done)
        wait = end - time.monotonic()
        if wait <= 0:
            return
        batch = replies.take(wait)
        if not batch:
            return
        for reply, arrived in batch:
            gap = arrived - (last if last is not None else started)
            idle = max(idle, 2 * gap) if last is not None else max(window, 2 * gap)
            last = arrived
            if reply.sender in seen:
                continue
            seen.add(reply.sender)
            missing.discard(reply.sender)
            if reply.sender not in expected:
                # The list was short (a node joined, or the discovery that wrote it
                # cut a slow one off): end as a discovery would, at the idle window.
                surprised = True
                done = None
            yield reply, arrived - started
            if not missing and done is None and not surprised:
                done = arrived + grace(arrived - started, window)

