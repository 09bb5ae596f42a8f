"""Choosing and grouping the nodes a request goes to: ``--limit-nodes`` and ``--batch``.

Both take ``N`` or ``N%``. The rules (MCollective's, reference §11):

* a limit of ``N%`` keeps ``floor(N% of the discovered nodes)``, but at least one;
* a batch of ``N%`` is ``ceil(N% of the discovered nodes)`` nodes per batch;
* ``first`` keeps nodes in discovery order; ``random`` picks at random, and with a seed
  sorts the nodes first so that the same seed picks the same nodes every time.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Sequence

from mcollective.errors import MCollectiveError

_SIZE_RE = re.compile(r"^\s*(\d+)\s*(%?)\s*$")
LIMIT_METHODS = ("first", "random")


def parse_size(value: int | str | None, what: str) -> int | str | None:
    """``N`` (an int) or ``"N%"``, validated (N > 0); ``None``, ``0`` and ``""`` mean
    "not set". Raises :class:`MCollectiveError` naming ``what``."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool):
        raise MCollectiveError(f"{what} must be N or N%, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise MCollectiveError(f"{what} must be a positive number, got {value}")
        return value
    match = _SIZE_RE.match(str(value))
    if not match:
        raise MCollectiveError(f"{what} must be N or N% (e.g. 10 or 25%), got {value!r}")
    number, percent = int(match.group(1)), match.group(2)
    if number == 0:
        return None
    if percent:
        if number > 100:
            raise MCollectiveError(f"{what} cannot be more than 100%, got {value!r}")
        return f"{number}%"
    return number


def resolve_size(size: int | str, total: int, *, round_up: bool) -> int:
    """How many nodes ``size`` means out of ``total`` (at least 1 when total > 0)."""
    if isinstance(size, int):
        return min(size, total)
    percent = int(size[:-1])
    exact = total * percent / 100
    count = math.ceil(exact) if round_up else math.floor(exact)
    return max(1, min(count, total)) if total else 0


def limit_nodes(nodes: Sequence[str], limit: int | str, *, method: str = "first",
                seed: int | None = None) -> list[str]:
    """The nodes a ``--limit-nodes`` keeps."""
    if method not in LIMIT_METHODS:
        raise MCollectiveError(f"limit method must be first or random, got {method!r}")
    count = resolve_size(limit, len(nodes), round_up=False)
    if count >= len(nodes):
        return list(nodes)
    if method == "first":
        return list(nodes[:count])
    if seed is None:
        return random.sample(list(nodes), count)
    return random.Random(seed).sample(sorted(nodes), count)


def batches(nodes: Sequence[str], size: int | str | None) -> Iterator[list[str]]:
    """``nodes`` cut into consecutive groups (one group when ``size`` is ``None``)."""
    if not nodes:
        return
    per = len(nodes) if size is None else resolve_size(size, len(nodes), round_up=True)
    per = max(1, per)
    for start in range(0, len(nodes), per):
        yield list(nodes[start:start + per])
