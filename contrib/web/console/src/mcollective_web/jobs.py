"""Requests in flight: work done on a worker thread, watched from the event loop.

The client API blocks (it waits for replies on a queue), the web server does not. A
:class:`Job` runs one piece of work (a discovery, an RPC call, a fleet inventory) on
a worker thread, which :meth:`Job.emit` s events (a node found, a result, the
summaries so far, done). Every event is kept in order, so any number of viewers can
follow a job from its start (a reload, a second tab, an SSE reconnect with
``Last-Event-ID``) while it runs and for a while after it ended. Waking the event loop
costs one ``call_soon_threadsafe`` per burst of events, not one per reply: a thousand
replies arriving together wake it a few times.

Bounds: a job keeps at most ``max_results`` results (a node flooding replies, or a
fleet larger than that, is counted, not stored); the registry runs at most
``max_running`` jobs at once and ``max_running_per_user`` per user, and forgets
finished jobs after ``retention`` seconds (their history stays in the store).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mcollective.errors import MCollectiveError

log = logging.getLogger(__name__)


class TooBusy(MCollectiveError):
    """Too many requests running (for this user, or for the console)."""


@dataclass
class Event:
    index: int
    name: str
    data: Any


@dataclass
class Job:
    id: int
    kind: str
    user: str
    meta: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    max_results: int = 100_000
    events: list[Event] = field(default_factory=list)
    done: bool = False
    finished: float | None = None
    results: int = 0
    dropped: int = 0
    #: The error that ended the job, if one did.
    failure: Exception | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waiters: set[asyncio.Event] = field(default_factory=set)
    _wake_pending: bool = False

    # --- the worker thread's side ------------------------------------------------------

    def emit(self, name: str, data: Any) -> None:
        with self._lock:
            self.events.append(Event(len(self.events), name, data))
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            self._schedule_wake()

    def emit_result(self, result: dict[str, Any]) -> bool:
        """Keep one result; ``False`` (and counted as dropped) past ``max_results``."""
        with self._lock:
            if self.results >= self.max_results:
                self.dropped += 1
                first_drop = self.dropped == 1
            else:
                self.results += 1
                first_drop = None
        if first_drop is None:
            self.emit("result", result)
            return True
        if first_drop:
            self.emit("warning", {"message": f"more than {self.max_results} replies: the "
                                             "rest are counted, not kept or shown"})
        return False

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self.finished = time.monotonic()
        self._schedule_wake()

    def _schedule_wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop has closed: the console is stopping
            pass

    # --- the event loop's side ------------------------------------------------------------

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        for waiter in list(self._waiters):
            waiter.set()

    def snapshot(self, start: int = 0) -> tuple[list[Event], bool]:
        with self._lock:
            return self.events[start:], self.done

    async def follow(self, start: int = 0, *, heartbeat: float = 15.0
                     ) -> AsyncIterator[list[Event]]:
        """Batches of events from ``start`` on, as they come, until the job is done;
        an empty batch every ``heartbeat`` seconds of silence (to keep proxies and the
        browser's connection alive)."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            index = start
            while True:
                waiter.clear()
                batch, done = self.snapshot(index)
                if batch:
                    index += len(batch)
                    yield batch
                    continue
                if done:
                    return
                try:
                    await asyncio.wait_for(waiter.wait(), heartbeat)
                except TimeoutError:
                    yield []
        finally:
            self._waiters.discard(waiter)

    async def wait(self) -> list[Event]:
        """Every event, once the job is done."""
        async for _ in self.follow(heartbeat=60.0):
            pass
        return self.snapshot()[0]

    def last(self, name: str) -> Any:
        """The data of the last event called ``name`` (``None`` if none)."""
        with self._lock:
            for event in reversed(self.events):
                if event.name == name:
                    return event.data
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "user": self.user, "done": self.done,
                "results": self.results, "dropped": self.dropped, **self.meta}


class Jobs:
    def __init__(self, *, max_running: int, max_running_per_user: int,
                 retention: float = 900.0, keep: int = 500) -> None:
        self.max_running = max_running
        self.max_running_per_user = max_running_per_user
        self.retention = retention
        self.keep = keep
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=max_running,
                                            thread_name_prefix="mco-web-job")

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def running(self, user: str | None = None) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values()
                       if not j.done and (user is None or j.user == user))

    def check_room(self, user: str) -> None:
        """Raise :class:`TooBusy` unless ``user`` may start one more job now."""
        if self.running(user) >= self.max_running_per_user:
            raise TooBusy(f"{self.max_running_per_user} of your requests are still "
                          "running; wait for one to finish")
        if self.running() >= self.max_running:
            raise TooBusy(f"the console is running {self.max_running} requests already; "
                          "try again in a moment")

    def start(self, job: Job, work: Callable[[Job], None]) -> Job:
        """Run ``work(job)`` on a worker thread; ``job.finish()`` is called whatever
        happens, and an exception becomes an ``error`` event, never a dead thread."""
        self.check_room(job.user)
        with self._lock:
            self._expire()
            self._jobs[job.id] = job

        def run() -> None:
            try:
                work(job)
            except MCollectiveError as exc:
                job.failure = exc
                job.emit("error", {"message": str(exc)})
            except Exception as exc:
                job.failure = exc
                log.exception("job %s (%s) failed", job.id, job.kind)
                job.emit("error", {"message": f"internal error: {type(exc).__name__}: "
                                              f"{exc}"})
            finally:
                job.finish()

        self._executor.submit(run)
        return job

    def _expire(self) -> None:
        now = time.monotonic()
        finished = sorted((j for j in self._jobs.values() if j.done),
                          key=lambda j: j.finished or 0)
        for job in finished:
            if now - (job.finished or now) > self.retention or \
                    len(self._jobs) > self.keep:
                del self._jobs[job.id]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
