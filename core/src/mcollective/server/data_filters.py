"""Where filters that ask data plugins are evaluated: off the consumer thread.

A compound filter such as ``fstat('/srv/big.iso').md5=/^0/`` makes a node run plugin
code before the request is authorized: reading a file, calling a program, waiting on a
hung NFS mount. Each query is bounded (its DDL timeout) and so is one request's filter
as a whole (``max_filter_seconds``), but a burst of such requests evaluated on the
consumer thread would still stall everything behind them, ``rpcutil ping`` included:
any holder of a client credential could deafen a collective. So they wait here instead,
for a thread of their own, in a queue of bounded length; when it is full a new one is
dropped (counted ``filtered``, logged) rather than queued without limit, and the
consumer goes on with the next message at once. One thread: such a caller can keep at
most one core of a node busy, the consumer and the actions keep the rest.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Task = tuple[Callable[..., Any], tuple[Any, ...]]


class DataFilterQueue:
    """A fixed number of threads (started on first use) working through a bounded
    queue of filter evaluations."""

    def __init__(self, threads: int = 1, pending: int = 100) -> None:
        self.threads = threads
        self.pending = pending
        self._tasks: queue.Queue[Task | None] = queue.Queue(maxsize=pending)
        self._lock = threading.Lock()
        self._started: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Queue ``fn(*args)``; ``False`` (nothing queued) when the queue is full or
        shut down. Never blocks."""
        with self._lock:
            if self._closed:
                return False
            if len(self._started) < self.threads:
                thread = threading.Thread(target=self._loop, daemon=True,
                                          name=f"data-filter-{len(self._started) + 1}")
                self._started.append(thread)
                thread.start()
        try:
            self._tasks.put_nowait((fn, args))
        except queue.Full:
            return False
        return True

    def _loop(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            fn, args = task
            try:
                fn(*args)
            except Exception:  # the caller counts its own failures; never lose a thread
                log.exception("filter evaluation failed")

    def shutdown(self) -> None:
        """Drop what waits and let the threads exit once their current task ends."""
        with self._lock:
            self._closed = True
            started = len(self._started)
        while True:
            try:
                self._tasks.get_nowait()
            except queue.Empty:
                break
        for _ in range(started):
            try:
                self._tasks.put_nowait(None)
            except queue.Full:  # pragma: no cover - emptied above, nothing else puts
                break
