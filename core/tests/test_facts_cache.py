"""BackgroundFactsSource: requests never wait for a slow source, failures keep the last
good facts, a reload hands the facts over, daemon_stats sees it all."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import pytest

from mcollective.facts import Facts
from mcollective.facts_cache import (
    BackgroundFactsSource,
    CommandFactsSource,
    FactsCommandError,
    parse_json_object,
    run_facts_command,
)


class Gate(BackgroundFactsSource):
    """A source whose load waits until the test opens the gate (standing in for a
    program that takes its time)."""

    def __init__(self, cache_time: float = 300, retry_time: float | None = None) -> None:
        super().__init__("gate", cache_time, retry_time=retry_time)
        self.gate = threading.Event()
        self.result: Any = {"a": 1}
        self.calls = 0

    def load(self) -> dict[str, Any]:
        self.calls += 1
        assert self.gate.wait(30)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def settle(source: BackgroundFactsSource) -> None:
    assert source.wait_loaded(30) or source.describe()["failures"]
    thread = source._thread
    if thread is not None:
        thread.join(30)


def test_get_never_waits_for_a_slow_load() -> None:
    source = Gate()
    started = time.monotonic()
    assert source.get() == {}  # the load is blocked; the answer is immediate
    assert source.get() == {}
    assert time.monotonic() - started < 10  # generous: only "did not wait 30 s"
    assert source.describe()["refreshing"] is True
    assert source.calls == 1  # one refresh at a time
    source.gate.set()
    settle(source)
    assert source.get() == {"a": 1}
    assert source.describe()["refreshing"] is False


def test_failure_keeps_last_good_facts_and_is_described(caplog) -> None:
    caplog.set_level(logging.INFO, "mcollective.facts_cache")
    source = Gate(cache_time=300, retry_time=300)  # only reload() refreshes
    source.gate.set()
    source.start()
    settle(source)
    good = source.get()
    source.result = RuntimeError("boom")
    source.reload()
    settle(source)
    assert source.get() is good
    info = source.describe()
    assert info["failures"] == 1 and info["last_error"] == "boom"
    assert "facts source 'gate' failed, keeping its last good facts" in caplog.text
    source.result = {"a": 2}
    source.reload()
    settle(source)
    assert source.get() == {"a": 2}
    assert source.describe()["consecutive_failures"] == 0
    assert "works again" in caplog.text


def test_unchanged_facts_keep_the_same_object() -> None:
    source = Gate(cache_time=300)
    source.gate.set()
    source.start()
    settle(source)
    first = source.get()
    source.result = {"a": 1}
    source.reload()
    settle(source)
    assert source.get() is first


def test_reload_hands_facts_to_the_new_source() -> None:
    old = Gate()
    old.gate.set()
    old.start()
    settle(old)
    new = Gate()
    new_facts, old_facts = Facts([("gate", new)]), Facts([("gate", old)])
    new_facts.succeed(old_facts)
    new_facts.start()
    assert new_facts.get() == {"a": 1}  # the old facts while the new source loads
    described = new_facts.describe()["gate"]
    assert described["loaded"] is False and described["refreshing"] is True
    new.gate.set()


def test_merge_precedence_is_top_level_key_by_key() -> None:
    a, b = Gate(), Gate()
    a.result = {"os": {"family": "Debian", "name": "Debian"}, "x": 1}
    b.result = {"os": {"family": "RedHat"}, "y": 2}
    for source in (a, b):
        source.gate.set()
        source.start()
        settle(source)
    assert Facts([("a", a), ("b", b)]).get() == {"os": {"family": "RedHat"}, "x": 1,
                                                 "y": 2}


def test_command_source_and_errors(tmp_path) -> None:
    ok = CommandFactsSource("py", [sys.executable, "-c", "print('{\"k\": [1, 2]}')"],
                            cache_time=300, timeout=30)
    ok.start()
    assert ok.wait_loaded(60)
    assert ok.get() == {"k": [1, 2]}
    with pytest.raises(FactsCommandError, match="not found"):
        run_facts_command([str(tmp_path / "missing")], timeout=5)
    with pytest.raises(FactsCommandError, match="did not finish within 1s"):
        run_facts_command([sys.executable, "-c", "import time; time.sleep(60)"],
                          timeout=1)
    with pytest.raises(FactsCommandError, match="printed more than 10 bytes"):
        run_facts_command([sys.executable, "-c", "print('x' * 100)"], timeout=30,
                          max_bytes=10)
    with pytest.raises(FactsCommandError, match="not an object"):
        parse_json_object("[1]", "tool")
    bad = CommandFactsSource("bad", [sys.executable, "-c",
                                     "import sys; sys.stderr.write('nope\\n'); sys.exit(2)"],
                             cache_time=300, timeout=30)
    bad.start()
    bad.wait_loaded(60)
    assert "exited with code 2: nope" in bad.describe()["last_error"]
