"""The replies to one request, as the connector's thread routes them to a reader.

A broadcast to a thousand nodes brings a thousand replies within a fraction of a second.
Waking the reading thread for each of them cost more than verifying them: every wake-up
is a context switch and a hand-over of the GIL from the connector's thread, which is
busy with the next reply. So readers take replies in batches (:meth:`ReplyQueue.take`),
and a reader that has just been served a burst pauses briefly before it waits again,
letting the next replies gather. The pause is short (``SETTLE``) next to any
human-visible delay or discovery window, and each reply carries the time it arrived,
stamped on the connector's thread, so response times do not include the reader's
scheduling. After a batch of fewer than ``BURST`` replies there is no pause: replies
trickling in cost few wake-ups anyway, and the last of them (which ends a call) is
read at once.
"""

from __future__ import annotations

import math
import queue
import time

from mcollective.message import Reply

#: Longest pause of a reader between two batches, in seconds ...
SETTLE = 0.002
#: ... after a batch of at least this many replies.
BURST = 4


class ReplyQueue:
    def __init__(self, settle: float = SETTLE) -> None:
        self._queue: queue.SimpleQueue[tuple[Reply, float]] = queue.SimpleQueue()
        self._settle = settle
        self._served = -math.inf  # when the last batch of BURST or more was taken

    def put(self, reply: Reply, arrived: float | None = None) -> None:
        """Called on the connector's thread; ``arrived`` defaults to now (monotonic)."""
        self._queue.put((reply, time.monotonic() if arrived is None else arrived))

    def take(self, timeout: float) -> list[tuple[Reply, float]]:
        """Every reply that has arrived, with its arrival time; waits up to ``timeout``
        seconds for the first one and returns ``[]`` if none came."""
        started = time.monotonic()
        if self._queue.empty():
            pause = min(self._served + self._settle - started, timeout)
            if pause > 0:
                time.sleep(pause)
        left = max(0.0, timeout - (time.monotonic() - started))
        try:
            batch = [self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()]
        except queue.Empty:
            return []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._served = time.monotonic() if len(batch) >= BURST else -math.inf
        return batch

    # One reply at a time, as from a queue.Queue.

    def get(self, timeout: float | None = None) -> Reply:
        """The next reply; raises :class:`queue.Empty` after ``timeout`` seconds."""
        return self._queue.get(timeout=timeout)[0]

    def get_nowait(self) -> Reply:
        return self._queue.get_nowait()[0]

    def empty(self) -> bool:
        return self._queue.empty()

    def qsize(self) -> int:
        return self._queue.qsize()
