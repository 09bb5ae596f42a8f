"""The daemon's elastic worker threads."""

from __future__ import annotations

import threading
import time

from mcollective.server.workers import ElasticWorkers


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_idle_workers_are_reused() -> None:
    workers = ElasticWorkers("t")
    names: list[str] = []
    for _ in range(20):
        done = threading.Event()
        workers.submit(lambda d=done: (names.append(threading.current_thread().name),
                                       d.set()))
        assert done.wait(5)
        wait_for(lambda: workers.idle() == 1)
    assert set(names) == {"t-1"}
    workers.shutdown()


def test_a_stuck_task_never_blocks_the_next_one() -> None:
    workers = ElasticWorkers("t")
    release = threading.Event()
    workers.submit(release.wait)
    done = threading.Event()
    workers.submit(done.set)  # no idle worker: a new thread takes it at once
    assert done.wait(5)
    release.set()
    workers.shutdown()


def test_idle_workers_exit_after_their_timeout() -> None:
    workers = ElasticWorkers("t", idle_timeout=0.05)
    done = threading.Event()
    workers.submit(done.set)
    assert done.wait(5)
    wait_for(lambda: not any(t.name == "t-1" for t in threading.enumerate()))
    assert workers.idle() == 0
    again = threading.Event()
    workers.submit(again.set)
    assert again.wait(5)
    workers.shutdown()


def test_many_concurrent_tasks_all_run() -> None:
    workers = ElasticWorkers("t")
    count = 0
    lock = threading.Lock()

    def task() -> None:
        nonlocal count
        with lock:
            count += 1

    for _ in range(500):
        workers.submit(task)
    wait_for(lambda: count == 500)
    workers.shutdown()
