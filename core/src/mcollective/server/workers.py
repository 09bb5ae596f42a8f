"""Reusable worker threads for actions, that never shrink when an action hangs.

Starting a thread per request costs more than many actions themselves (a broadcast to an
emulated fleet starts thousands), so idle workers wait for the next task. A fixed pool
would lose a thread to every action that outlives its timeout, though: the watchdog
answers such a request and frees its slot, but the thread stays busy until the action
returns. So a new thread is started whenever no worker is idle; how many run at once is
bounded by the daemon's slots, not here. Idle workers exit after a while.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

Task = tuple[Callable[..., Any], tuple[Any, ...]]


class ElasticWorkers:
    def __init__(self, name: str = "worker", idle_timeout: float = 60.0) -> None:
        self.name = name
        self.idle_timeout = idle_timeout
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("workers are shut down")
            if self._idle:
                self._idle -= 1  # that worker is now promised this task
                self._tasks.put((fn, args))
                return
            self._started += 1
            number = self._started
        thread = threading.Thread(target=self._loop, args=((fn, args),),
                                  name=f"{self.name}-{number}", daemon=True)
        thread.start()

    def _loop(self, task: Task | None) -> None:
        while task is not None:
            fn, args = task
            try:
                fn(*args)
            except Exception:  # pragma: no cover - callers handle their own errors
                import logging

                logging.getLogger(__name__).exception("worker task failed")
            with self._lock:
                if self._closed:
                    return
                self._idle += 1
            try:
                task = self._tasks.get(timeout=self.idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle:  # nobody promised us a task: leave
                        self._idle -= 1
                        return
                task = self._tasks.get()  # a submit claimed us just now

    def idle(self) -> int:
        with self._lock:
            return self._idle

    def shutdown(self) -> None:
        """Let idle workers exit; running tasks finish on their own."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._tasks.put(None)
