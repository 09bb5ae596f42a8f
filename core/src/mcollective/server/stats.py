"""Message counters of a daemon, as ``rpcutil daemon_stats`` reports them.

Every received message is counted once in ``total`` and then in exactly one of
``oversized`` (longer than ``max_message_size``, never parsed), ``malformed`` (not a
message at all), ``unvalidated`` (failed security verification) or ``validated``; a
validated request ends in ``ttlexpired``, ``filtered``, ``replayed``, ``replayfull``
(refused: the replay cache, or the caller's share of it, is full) or ``passed``.
Counters only grow; a reload does not reset them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

COUNTERS = (
    "total", "oversized", "malformed", "unvalidated", "validated", "ttlexpired", "replayed",
    "replayfull", "filtered", "passed", "replies", "timeouts", "errors", "authfailures",
)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self.starttime = int(time.time())

    def incr(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] += by

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]
