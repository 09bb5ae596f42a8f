"""Caching, refreshing and failure isolation of the system facts source."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from mcollective.facts import Facts
from mcollective_facts_system.context import ProbeContext
from mcollective_facts_system.source import SystemFactsSource


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A probe returning ``{name: value}`` and counting its calls."""

    def __init__(self, name: str, value: Any = 1) -> None:
        self.name, self.value, self.calls = name, value, 0

    def __call__(self, ctx: ProbeContext) -> dict[str, Any]:
        self.calls += 1
        return {self.name: self.value}


def make(static: list[Any], dynamic: list[Any], cache_time: float = 60,
         clock: Clock | None = None) -> SystemFactsSource:
    return SystemFactsSource(
        cache_time, static_probes=[(p.name, p) for p in static],
        dynamic_probes=[(p.name, p) for p in dynamic], clock=clock or Clock())


def test_cached_for_the_cache_time() -> None:
    clock = Clock()
    static, dynamic = Counting("os"), Counting("uptime")
    src = make([static], [dynamic], cache_time=60, clock=clock)
    first = src.get()
    assert first == {"os": 1, "uptime": 1}
    clock.now += 59
    assert src.get() is first
    assert (static.calls, dynamic.calls) == (1, 1)


def test_refresh_reruns_only_dynamic_probes() -> None:
    clock = Clock()
    static, dynamic = Counting("os"), Counting("uptime")
    src = make([static], [dynamic], cache_time=60, clock=clock)
    first = src.get()
    dynamic.value = 2
    clock.now += 60
    second = src.get()
    assert second == {"os": 1, "uptime": 2}
    assert second is not first
    assert (static.calls, dynamic.calls) == (1, 2)


def test_unchanged_refresh_keeps_the_same_object() -> None:
    clock = Clock()
    dynamic = Counting("load")
    src = make([Counting("os")], [dynamic], cache_time=10, clock=clock)
    first = src.get()
    clock.now += 11
    assert src.get() is first
    assert dynamic.calls == 2


def test_zero_cache_time_probes_every_time() -> None:
    dynamic = Counting("uptime")
    src = make([], [dynamic], cache_time=0)
    src.get()
    src.get()
    assert dynamic.calls == 2


def test_reload_reruns_static_probes() -> None:
    clock = Clock()
    static = Counting("os", "Debian")
    src = make([static], [Counting("uptime")], cache_time=300, clock=clock)
    first = src.get()
    static.value = "Ubuntu"
    assert src.get() is first
    src.reload()
    assert src.get() == {"os": "Ubuntu", "uptime": 1}
    assert static.calls == 2


def test_later_probes_see_earlier_facts_and_nest() -> None:
    def os_probe(ctx: ProbeContext) -> dict[str, Any]:
        return {"os": {"family": "Debian"}}

    def arch_probe(ctx: ProbeContext) -> dict[str, Any]:
        return {"os": {"architecture": "amd64" if ctx.fact("os.family") == "Debian"
                       else "x86_64"}}

    src = SystemFactsSource(60, static_probes=[("os", os_probe), ("arch", arch_probe)],
                            dynamic_probes=[])
    assert src.get() == {"os": {"family": "Debian", "architecture": "amd64"}}


def test_failing_probe_is_left_out_and_logged_once(caplog: pytest.LogCaptureFixture
                                                   ) -> None:
    clock = Clock()
    state = {"fail": True}

    def flaky(ctx: ProbeContext) -> dict[str, Any]:
        if state["fail"]:
            raise OSError("/proc/meminfo: permission denied")
        return {"memory": 1}

    src = SystemFactsSource(10, static_probes=[("os", Counting("os"))],
                            dynamic_probes=[("memory", flaky), ("uptime", Counting("uptime"))],
                            clock=clock)
    with caplog.at_level(logging.DEBUG, logger="mcollective_facts_system"):
        assert src.get() == {"os": 1, "uptime": 1}
        clock.now += 10
        assert src.get() == {"os": 1, "uptime": 1}
        state["fail"] = False
        clock.now += 10
        assert src.get() == {"os": 1, "uptime": 1, "memory": 1}
    failures = [r for r in caplog.records if "probe 'memory' failed" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING, logging.DEBUG]
    assert "permission denied" in failures[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_every_probe_failing_still_answers() -> None:
    def broken(ctx: ProbeContext) -> dict[str, Any]:
        raise RuntimeError("boom")

    src = SystemFactsSource(10, static_probes=[("a", broken)],
                            dynamic_probes=[("b", broken)])
    assert src.get() == {}


def test_other_threads_are_answered_during_a_refresh() -> None:
    clock = Clock()
    entered, release = threading.Event(), threading.Event()
    state = {"block": False, "value": 1}

    def slow(ctx: ProbeContext) -> dict[str, Any]:
        if state["block"]:
            entered.set()
            assert release.wait(10)
        return {"uptime": state["value"]}

    src = SystemFactsSource(10, static_probes=[], dynamic_probes=[("uptime", slow)],
                            clock=clock)
    first = src.get()
    state.update(block=True, value=2)
    clock.now += 10
    refresher = threading.Thread(target=src.get)
    refresher.start()
    assert entered.wait(10)
    assert src.get() is first  # not blocked behind the refresh
    release.set()
    refresher.join(10)
    assert src.get() == {"uptime": 2}


def test_real_probes_refresh_uptime_but_cache_the_os(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "proc").mkdir()
    (tmp_path / "etc" / "os-release").write_text('ID=ubuntu\nVERSION_ID="22.04"\n')
    (tmp_path / "proc" / "uptime").write_text("100.5 80.0\n")
    clock = Clock()
    src = SystemFactsSource(300, root=tmp_path, clock=clock)
    first = src.get()
    assert first["os"]["name"] == "Ubuntu" and first["uptime_seconds"] == 100

    (tmp_path / "proc" / "uptime").write_text("400.9 80.0\n")
    (tmp_path / "etc" / "os-release").write_text('ID=ubuntu\nVERSION_ID="24.04"\n')
    clock.now += 299
    assert src.get() is first
    clock.now += 1
    second = src.get()
    assert second["uptime_seconds"] == 400
    assert second["system_uptime"] == {"seconds": 400, "hours": 0, "days": 0,
                                       "uptime": "6 minutes"}
    assert second["os"]["release"]["full"] == "22.04"  # static until a reload
    src.reload()
    assert src.get()["os"]["release"]["full"] == "24.04"


def test_core_merger_sees_the_same_object() -> None:
    facts = Facts([("system", make([Counting("os")], [Counting("uptime")]))])
    assert facts.get() is facts.get()
