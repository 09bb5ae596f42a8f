"""Message counters of a daemon, as ``rpcutil daemon_stats`` reports them.

Every received message is counted once in ``total`` and then in exactly one of
``oversized`` (longer than ``max_message_size``, never parsed), ``malformed`` (not a
message at all, whether the daemon or the connector's transport found that out),
``unvalidated`` (failed security verification) or ``validated``; a validated request
ends in ``outofbounds`` (a field beyond its documented bound: ``max_ttl``, a
``reply_to`` over 255 bytes...), ``ttlexpired``, ``filtered``, ``replayed``,
``replayfull`` (refused: the replay cache, or the caller's share of it, is full) or
``passed``. ``replies`` counts replies the connector published, ``reply_errors`` those
it could not (never counted as sent); ``stuck`` actions that were still running when
their timeout was answered (``daemon_stats``' ``stuck_actions`` says how many of each
agent still are) and ``refused`` requests turned away because ``max_stuck_actions`` of
their agent's were.
Counters only grow; a reload does not reset them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

COUNTERS = (
    "total", "oversized", "malformed", "unvalidated", "validated", "outofbounds",
    "ttlexpired", "replayed", "replayfull", "filtered", "passed", "replies", "reply_errors",
    "timeouts", "stuck", "refused", "errors", "authfailures",
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
