"""The replay cache: a request id is acted on at most once per node while it is valid.

Signatures cover the whole request, but a signed request captured off the middleware can
be sent again unchanged; the TTL window alone (MCollective's and Choria's only defence)
accepts it until ``time + ttl``. The daemon therefore remembers the ids it has accepted
until their own window closes, and drops a second delivery as ``replayed``.

Bounded: at most ``capacity`` ids are held. Entries leave when their window closes (a
request older than that is refused by the TTL check anyway, so it need not be
remembered). When the cache is full of live entries the one closest to expiry is
evicted and counted: memory stays bounded and legitimate traffic is never refused, at
the price of a shorter replay guard for that one id. Only requests that passed
signature verification reach the cache, so filling it takes a valid signing key.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Hashable
from typing import Any


class ReplayCache:
    """Seen request keys with the wall-clock time their TTL window closes.

    ``capacity = 0`` switches the cache off (every request is new): only for
    measurements, never in production.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._expiry: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = 0
        self._lock = threading.Lock()
        self.evicted = 0
        self.rejected = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def check_and_add(self, key: Hashable, expires: float, now: float) -> bool:
        """``True`` (and remember ``key`` until ``expires``) when ``key`` is new;
        ``False`` when it was seen before and its window is still open."""
        if self.capacity <= 0:
            return True
        with self._lock:
            self._purge(now)
            if key in self._expiry:
                self.rejected += 1
                return False
            while len(self._expiry) >= self.capacity:
                _, _, old = heapq.heappop(self._heap)
                self._expiry.pop(old, None)
                self.evicted += 1
            self._expiry[key] = expires
            self._seq += 1
            heapq.heappush(self._heap, (expires, self._seq, key))
            return True

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            _, _, key = heapq.heappop(heap)
            self._expiry.pop(key, None)

    def describe(self) -> dict[str, Any]:
        """What ``daemon_stats`` shows: size, capacity and how many ids were evicted
        early (non-zero means ``replay_cache_size`` is too small for the request rate)."""
        with self._lock:
            return {"size": len(self._expiry), "capacity": self.capacity,
                    "evicted": self.evicted}
