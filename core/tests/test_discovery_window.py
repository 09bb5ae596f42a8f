"""The adaptive idle window of broadcast discovery and ping."""

from __future__ import annotations

import threading
import time
from unittest.mock import ANY

from mcollective.client.replies import ReplyQueue
from mcollective.discovery import collect_adaptively
from mcollective.message import Reply


def feed(schedule: list[tuple[float, str]]) -> tuple[ReplyQueue, float]:
    """Replies from ``sender`` put ``delay`` seconds after the previous one."""
    replies = ReplyQueue()

    def run() -> None:
        for delay, sender in schedule:
            time.sleep(delay)
            replies.put(Reply(request="0" * 32, sender=sender, agent="discovery"))

    started = time.monotonic()
    threading.Thread(target=run, daemon=True).start()
    return replies, started


def senders(schedule: list[tuple[float, str]], **kw: float) -> list[str]:
    replies, started = feed(schedule)
    return [r.sender for r, _ in collect_adaptively(replies, started=started, **kw)]


def test_ends_after_the_idle_window_not_the_timeout() -> None:
    began = time.monotonic()
    assert senders([(0.0, "a"), (0.0, "b")], timeout=30, window=0.05) == ["a", "b"]
    assert time.monotonic() - began < 30  # returned on the window, far before the timeout


def test_slow_first_reply_stretches_the_window() -> None:
    # First reply after 0.4 s: the window becomes 0.8 s, so a node answering 0.3 s after
    # the others is still found although the configured window is 0.05 s.
    assert senders([(0.4, "a"), (0.0, "b"), (0.3, "c")], timeout=10, window=0.05) == [
        "a", "b", "c"]


def test_wide_gaps_stretch_the_window_but_silence_still_ends_it() -> None:
    # a at 0.2 s (window 0.4), b 0.3 s later (window 0.6), c 0.45 s later (window 0.9);
    # then nothing for 3 s: the wait ends long before the 10 s timeout.
    began = time.monotonic()
    found = senders([(0.2, "a"), (0.3, "b"), (0.45, "c"), (3.0, "late")], timeout=10,
                    window=0.05)
    assert time.monotonic() - began < 10
    assert found == ["a", "b", "c"]


def test_limit_and_duplicates() -> None:
    assert senders([(0.0, "a"), (0.0, "a"), (0.0, "b"), (0.0, "c")], timeout=5,
                   window=1.0, limit=2) == ["a", "b"]


def test_nothing_answers_waits_for_the_timeout_only() -> None:
    replies = ReplyQueue()
    assert list(collect_adaptively(replies, started=time.monotonic(), timeout=0.2,
                                   window=0.05)) == []


def test_replies_are_read_in_batches_with_their_arrival_times() -> None:
    """A burst arrives as one batch; each reply keeps the time it arrived, so response
    times do not include the reader's pause between batches."""
    replies = ReplyQueue(settle=0.05)
    assert replies.take(0.01) == []
    first = Reply(request="0" * 32, sender="a", agent="discovery")
    replies.put(first, 1.0)
    assert replies.take(1.0) == [(first, 1.0)]
    for n in range(5):
        replies.put(Reply(request="0" * 32, sender=f"b{n}", agent="discovery"), 2.0 + n)
    began = time.monotonic()
    batch = replies.take(1.0)
    assert [r.sender for r, _ in batch] == [f"b{n}" for n in range(5)]
    assert [t for _, t in batch] == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert time.monotonic() - began < 0.5  # served at once: they were waiting already
    # One at a time still works, as from a queue.Queue.
    replies.put(first)
    assert replies.get(timeout=1) is first and replies.empty()


def test_the_reader_pauses_after_a_burst_only() -> None:
    """After a burst the reader pauses (settle) to let the next replies gather; after a
    single reply it does not: the last reply of a call is read as soon as it comes."""
    replies = ReplyQueue(settle=0.4)
    for n in range(5):
        replies.put(Reply(request="0" * 32, sender=f"b{n}", agent="discovery"))
    assert len(replies.take(1.0)) == 5
    one = Reply(request="0" * 32, sender="a", agent="discovery")
    for pause_expected in (True, False):
        began = time.monotonic()
        threading.Timer(0.01, replies.put, args=(one,)).start()
        assert replies.take(2.0) == [(one, ANY)]
        took = time.monotonic() - began
        # The reply comes after 0.01 s; after a burst the reader looks after 0.4 s.
        assert took > 0.3 if pause_expected else took < 0.3, took
