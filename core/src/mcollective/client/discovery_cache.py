"""The nodes that last answered a broadcast discovery, per filter, for ``mco rpc`` and
``mco ping`` to know whom to expect without a discovery round of their own.

A classic run spends a whole discovery round (publish, replies, then an idle window of
``discovery_window`` seconds in which nothing happens) before it even sends the request.
With an entry for the same filter, collective and method no older than
``discovery_cache_ttl`` seconds, ``mco rpc`` instead broadcasts the request itself,
carrying the filter, and ends as soon as every expected node answered plus a short grace
for newcomers (see :func:`mcollective.discovery.collect_expected`). The rules, and what
"discovered" then means, are in ``docs/discovery.md``.

A node that answered before and not now is remembered as *lost* for another
``discovery_cache_ttl`` seconds: a run with the entry still waits for it as a discovery
would (the idle window), instead of ending at the grace. Otherwise one short answer
(a node reconnecting, or scheduled late, while a discovery ran) would be re-stored by
every later run that ended at the grace, and the node stay unseen for as long as the
entry is used.

One JSON file in the client's state directory; bounded (:data:`MAX_ENTRIES`, newest
kept); written atomically (a temporary file renamed), so concurrent ``mco`` runs never
read half a file; unreadable or malformed content is treated as empty, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

#: Filters remembered at most (the least recently written are dropped).
MAX_ENTRIES = 64
#: Nodes remembered per filter at most (beyond that, discovering is the cheap part).
MAX_NODES = 100_000
FILE_NAME = "discovery-cache.json"


def cache_key(*, collective: str, method: str, flt: dict[str, Any],
              options: Iterable[str] = ()) -> str:
    """What makes two discoveries the same question."""
    text = json.dumps({"collective": collective, "method": method, "filter": flt,
                       "options": list(options)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class CacheHit(NamedTuple):
    """A fresh entry: whom to expect, how old the entry is, and whom to wait for as a
    discovery would (answered within the last ``ttl`` seconds, not the last time)."""

    nodes: list[str]
    age: float
    lost: list[str]


class DiscoveryCache:
    """``lookup`` and ``store`` node lists by :func:`cache_key`."""

    def __init__(self, directory: Path, ttl: float) -> None:
        self.path = Path(directory) / FILE_NAME
        self.ttl = float(ttl)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def lookup(self, key: str, *, now: float | None = None) -> CacheHit | None:
        """The entry when a fresh one exists, else None."""
        if self.ttl <= 0:
            return None
        entry = self._read().get(key)
        if not isinstance(entry, dict):
            return None
        stamp, nodes = entry.get("time"), entry.get("nodes")
        if not isinstance(stamp, (int, float)) or not isinstance(nodes, list) or not nodes:
            return None
        now = time.time() if now is None else now
        age = now - stamp
        if age < 0 or age > self.ttl or not all(isinstance(n, str) for n in nodes):
            return None
        return CacheHit(list(nodes), age, sorted(self._lost(entry, now)))

    def _lost(self, entry: Any, now: float) -> dict[str, float]:
        """The entry's lost nodes still within the ttl: name -> when last seen."""
        lost = entry.get("lost") if isinstance(entry, dict) else None
        if not isinstance(lost, dict):
            return {}
        return {name: seen for name, seen in lost.items()
                if isinstance(name, str) and isinstance(seen, (int, float))
                and 0 <= now - seen <= self.ttl}

    def store(self, key: str, nodes: Iterable[str]) -> None:
        """Remember ``nodes`` (an empty list forgets the entry). Failing to write is
        logged, never raised: the cache only saves time."""
        if self.ttl <= 0:
            return
        found = list(dict.fromkeys(nodes))[:MAX_NODES]
        now = time.time()
        data = self._read()
        previous = data.pop(key, None)
        if found:
            lost = self._lost(previous, now)
            stamp = previous.get("time") if isinstance(previous, dict) else None
            before = previous.get("nodes") if isinstance(previous, dict) else None
            if isinstance(stamp, (int, float)) and isinstance(before, list):
                lost.update({name: stamp for name in before if isinstance(name, str)})
            answered = set(found)
            gone = sorted(((seen, name) for name, seen in lost.items()
                           if name not in answered), reverse=True)[:MAX_NODES]
            data[key] = {"time": now, "nodes": found, "lost": {n: s for s, n in gone}}
        entries = sorted(((k, v) for k, v in data.items() if isinstance(v, dict)),
                         key=lambda kv: kv[1].get("time", 0) if isinstance(
                             kv[1].get("time", 0), (int, float)) else 0)[-MAX_ENTRIES:]
        tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(dict(entries)), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("could not write the discovery cache %s: %s", self.path, exc)
            try:
                tmp.unlink()
            except OSError:
                pass
