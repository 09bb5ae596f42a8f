"""The yaml facts source against real files: override order, change detection, last
good facts, missing files, identity of the returned mapping."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mcollective.facts import Facts
from mcollective_facts_yaml.source import FactsFile, YamlFactsSource


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def source(*paths: Path, configured: bool = True, interval: float = 0.0,
           clock: Clock | None = None) -> YamlFactsSource:
    files = [FactsFile(p, configured=configured) for p in paths]
    if clock is None:
        return YamlFactsSource(files, check_interval=interval)
    return YamlFactsSource(files, check_interval=interval, clock=clock)


def test_later_files_override_earlier_ones(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "role: db\nenv: prod\nos: {family: Debian, name: x}\n")
    b = write(tmp_path / "b.yaml", "role: web\nos: {name: Ubuntu}\n")
    assert source(a, b).get() == {"role": "web", "env": "prod", "os": {"name": "Ubuntu"}}
    assert source(b, a).get() == {"role": "db", "env": "prod",
                                  "os": {"family": "Debian", "name": "x"}}


def test_structured_facts_keep_their_types(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", """
os:
  family: Debian
  release: {full: "12.5", major: 12}
processors: {count: 8}
memorysize_mb: 15898.45
is_virtual: true
roles: [web, cache]
mounts:
  - {path: /, size: 100}
empty: null
""")
    facts = source(f).get()
    assert facts["os"] == {"family": "Debian", "release": {"full": "12.5", "major": 12}}
    assert facts["processors"]["count"] == 8
    assert facts["memorysize_mb"] == 15898.45
    assert facts["is_virtual"] is True
    assert facts["roles"] == ["web", "cache"]
    assert facts["mounts"] == [{"path": "/", "size": 100}]
    assert facts["empty"] is None


def test_same_mapping_while_unchanged(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", "a: 1\n")
    src = source(f)
    first = src.get()
    assert src.get() is first
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 5_000_000_000))
    assert src.get() is first  # re-read, same content: still the same object


def test_reloads_when_a_file_changes(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", "role: web\n")
    src = source(f)
    first = src.get()
    write(f, "role: db\n")
    second = src.get()
    assert second == {"role": "db"}
    assert second is not first
    assert src.get() is second


def test_atomic_replace_is_noticed(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", "role: web\n")
    src = source(f)
    src.get()
    new = write(tmp_path / "new.yaml", "role: db\n")
    stat = f.stat()
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime
    new.replace(f)
    assert src.get() == {"role": "db"}


def test_checks_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = Clock()
    f = write(tmp_path / "f.yaml", "n: 1\n")
    src = source(f, interval=1.0, clock=clock)
    assert src.get() == {"n": 1}
    write(f, "n: 2\n")
    clock.now += 0.5
    assert src.get() == {"n": 1}  # not looked at yet
    clock.now += 0.5
    assert src.get() == {"n": 2}


def test_reload_rereads_even_unchanged_metadata(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", "n: 1\n")
    src = source(f)
    assert src.get() == {"n": 1}
    before = f.stat()
    write(f, "n: 2\n")  # same size, same inode
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert src.get() == {"n": 1}  # metadata says nothing changed
    src.reload()
    assert src.get() == {"n": 2}


def test_reload_forces_a_check_within_the_interval(tmp_path: Path) -> None:
    clock = Clock()
    f = write(tmp_path / "f.yaml", "n: 1\n")
    src = source(f, interval=1.0, clock=clock)
    src.get()
    write(f, "n: 22\n")
    src.reload()
    assert src.get() == {"n": 22}


# --- bad files ------------------------------------------------------------------------


def test_bad_file_keeps_the_last_good_facts(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    a = write(tmp_path / "a.yaml", "a: 1\n")
    b = write(tmp_path / "b.yaml", "b: 1\n")
    src = source(a, b)
    good = src.get()
    write(a, "a: 2\n")
    write(b, "b: [1, 2\nc: 3\n")  # unclosed flow sequence
    with caplog.at_level(logging.WARNING):
        assert src.get() is good  # a's change is not applied on its own either
        assert src.get() is good
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per change, not once per look
    message = warnings[0].getMessage()
    assert str(b) in message
    assert "line 2" in message
    assert "keeping the last good facts" in message

    write(b, "b: [1, 2]\n")
    assert src.get() == {"a": 2, "b": [1, 2]}


@pytest.mark.parametrize(("text", "expected"), [
    ("- a\n- b\n", "line 1 column 1: the top level is a list"),
    ("\n\njust a string\n", "line 3 column 1: the top level is a single value"),
    ("a: 1\n---\nb: 2\n", "line 2"),
    ("a: 1\nb: !!python/object/apply:os.system [true]\n", "line 2"),
    ("a: &x [1, *x]\n", "refers to itself"),
    ("", "is empty"),
    ("# only a comment\n", "is empty"),
    ("a: 1\nb: \x00\n", "control characters"),
    ("a:\n\tb: 1\n", "line 2"),
])
def test_bad_files_are_reported_with_file_and_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, expected: str) -> None:
    f = write(tmp_path / "f.yaml", "good: true\n")
    src = source(f)
    good = src.get()
    write(f, text)
    with caplog.at_level(logging.WARNING):
        assert src.get() is good
    assert str(f) in caplog.text
    assert expected in caplog.text


def test_bad_file_at_start_gives_no_facts(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    f = write(tmp_path / "f.yaml", "a: [\n")
    with caplog.at_level(logging.WARNING):
        assert source(f).get() == {}
    assert str(f) in caplog.text


def test_unreadable_file_keeps_the_last_good_facts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = write(tmp_path / "f.yaml", "a: 1\n")
    src = source(f)
    good = src.get()
    f.unlink()
    f.mkdir()
    with caplog.at_level(logging.WARNING):
        assert src.get() is good
    assert "cannot read" in caplog.text


def test_empty_mapping_is_a_deliberate_empty_file(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", "a: 1\n")
    src = source(f)
    src.get()
    write(f, "{}\n")
    assert src.get() == {}


# --- missing files --------------------------------------------------------------------


def test_missing_default_file_means_no_facts_quietly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="mcollective_facts_yaml"):
        assert source(tmp_path / "facts.yaml", configured=False).get() == {}
    records = [r for r in caplog.records if "facts.yaml" in r.getMessage()]
    assert records and all(r.levelno == logging.DEBUG for r in records)


def test_missing_configured_file_is_a_warning_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    present = write(tmp_path / "present.yaml", "a: 1\n")
    missing = tmp_path / "missing.yaml"
    src = source(present, missing)
    with caplog.at_level(logging.WARNING):
        assert src.get() == {"a": 1}
        write(present, "a: 2\n")
        assert src.get() == {"a": 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(missing) in warnings[0] and "plugin.yaml" in warnings[0]


def test_files_that_appear_and_disappear(tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    base = write(tmp_path / "base.yaml", "role: web\nenv: dev\n")
    extra = tmp_path / "extra.yaml"
    src = source(base, extra)
    assert src.get() == {"role": "web", "env": "dev"}
    write(extra, "env: prod\n")
    assert src.get() == {"role": "web", "env": "prod"}
    extra.unlink()
    with caplog.at_level(logging.WARNING):
        assert src.get() == {"role": "web", "env": "dev"}
    assert str(extra) in caplog.text


def test_missing_directory(tmp_path: Path) -> None:
    assert source(tmp_path / "nowhere" / "facts.yaml").get() == {}


# --- with core's merger ---------------------------------------------------------------


def test_core_merger_sees_the_same_object(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", "a: 1\n")
    src = source(f)
    facts = Facts([("yaml", src)])
    merged = facts.get()
    assert facts.get() is merged
    write(f, "a: 2\n")
    assert facts.get() == {"a": 2}


def test_structured_facts_work_with_the_filter_engine(tmp_path: Path) -> None:
    from mcollective.filters import Filter, Node

    f = write(tmp_path / "f.yaml", "os: {family: Debian, release: {major: 12}}\n"
                                   "roles: [web, cache]\nmemorysize_mb: 2048.5\n")
    node = Node("n1", facts=source(f).get())
    assert Filter.build(facts=["os.family=Debian", "roles=cache",
                               "os.release.major>=11", "memorysize_mb>1000"]).matches(node)
    assert not Filter.build(facts=["roles=db"]).matches(node)


def test_other_threads_are_answered_while_files_are_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from mcollective_facts_yaml import source as source_module

    f = write(tmp_path / "f.yaml", "n: 1\n")
    src = source(f)
    first = src.get()
    entered, release = threading.Event(), threading.Event()
    real_load = source_module.load_facts_file

    def slow_load(path: Path) -> dict[str, object]:
        entered.set()
        assert release.wait(10)
        return real_load(path)

    monkeypatch.setattr(source_module, "load_facts_file", slow_load)
    write(f, "n: 2\n")
    reader = threading.Thread(target=src.get)
    reader.start()
    assert entered.wait(10)
    assert src.get() is first  # not blocked behind the slow read
    release.set()
    reader.join(10)
    assert src.get() == {"n": 2}


def test_first_look_is_waited_for(tmp_path: Path) -> None:
    import threading

    f = write(tmp_path / "f.yaml", "n: 1\n")
    src = source(f)
    results: list[dict[str, object]] = []
    threads = [threading.Thread(target=lambda: results.append(src.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [{"n": 1}] * 8
