"""Facts that are slow to produce, refreshed in the background.

Facter, Ohai and external fact executables take seconds to answer and can hang. A
filter or an inventory must never wait for them, so :class:`BackgroundFactsSource`
answers every :meth:`~BackgroundFactsSource.get` at once with the facts it has, and when
they are older than the cache time starts one refresh in a background thread. A refresh
that fails or times out keeps the last good facts, is logged, and shows in
``rpcutil daemon_stats`` (``facts.<source>``) through :meth:`describe`.

:func:`run_facts_command` runs a facts program the way every such source needs it:
without a shell, in its own process group (killed with its children on timeout), its
output bounded.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mcollective.facts import FactsSource

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Largest output accepted from a facts program (Ohai prints about 1 MiB).
MAX_OUTPUT_BYTES = 64 * 1024 * 1024


class FactsCommandError(Exception):
    """A facts program failed: not found, timed out, non-zero exit or bad output."""


def run_facts_command(command: Sequence[str], *, timeout: float,
                      env: Mapping[str, str] | None = None, cwd: str | None = None,
                      max_bytes: int = MAX_OUTPUT_BYTES) -> tuple[int, str, str]:
    """Run ``command``; return its exit code, standard output and the last line of its
    standard error. Raise :class:`FactsCommandError` when it cannot run, times out or
    prints too much. A non-zero exit code is the caller's to judge: Facter exits 1
    after any resolution error while still printing every other fact."""
    from mcollective.agent import run_command
    from mcollective.errors import RPCAborted

    try:
        result = run_command(command, timeout=timeout, env=env, cwd=cwd)
    except RPCAborted as exc:  # not found, not executable
        raise FactsCommandError(str(exc)) from None
    if result.timed_out:
        raise FactsCommandError(f"{command[0]} did not finish within {timeout:g}s "
                                "and was killed")
    if len(result.stdout) > max_bytes:
        raise FactsCommandError(f"{command[0]} printed more than {max_bytes} bytes")
    # Facter colours its log lines even into a pipe.
    stderr = _ANSI.sub("", result.stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    return result.exitcode, result.stdout, (lines[-1].strip()[:300] if lines else "")


def failed(command: Sequence[str], code: int, stderr_line: str) -> FactsCommandError:
    return FactsCommandError(f"{command[0]} exited with code {code}: "
                             f"{stderr_line or 'no error output'}")


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """A JSON object from a facts program, or :class:`FactsCommandError`."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FactsCommandError(f"{what} did not print JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FactsCommandError(f"{what} printed JSON {type(data).__name__}, "
                                "not an object")
    return data


class BackgroundFactsSource(FactsSource):
    """A facts source whose :meth:`load` is slow: :meth:`get` never waits for it.

    * The first refresh starts with :meth:`start` (the daemon calls it when it loads
      its facts sources) or the first :meth:`get`; until it ends the source has no
      facts (an empty mapping).
    * After ``cache_time`` seconds the next :meth:`get` starts a refresh in a
      background thread and returns the facts it has meanwhile. ``cache_time`` 0
      refreshes whenever none is running.
    * A refresh that raises keeps the last good facts; the failure is logged (a warning
      the first time and when it changes, debug while it repeats) and counted in
      :meth:`describe`. After a failure the next attempt waits ``retry_time`` seconds.
    * The same dict object is returned until a refresh finds different facts.

    Subclasses implement :meth:`load`, which may block (it runs in the thread) and
    should bound its own run time (a timeout on the program it runs).
    """

    def __init__(self, name: str, cache_time: float, *, retry_time: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.cache_time = cache_time
        self.retry_time = min(cache_time, 30.0) if retry_time is None else retry_time
        self._clock = clock
        self._lock = threading.Lock()
        self._facts: dict[str, Any] = {}
        self._loaded = False
        self._next_refresh = float("-inf")
        self._thread: threading.Thread | None = None
        self._refreshes = 0
        self._failures = 0
        self._consecutive_failures = 0
        self._last_error: str | None = None
        self._last_success: float | None = None  # wall clock, for daemon_stats
        self._last_duration: float | None = None

    @abstractmethod
    def load(self) -> dict[str, Any]:
        """Produce the facts (blocking, in the refresh thread); raise on failure."""

    # --- FactsSource ------------------------------------------------------------------

    def get(self) -> dict[str, Any]:
        if self._clock() >= self._next_refresh:
            self._start_refresh()
        return self._facts

    def start(self) -> None:
        self._start_refresh()

    def reload(self) -> None:
        """Refresh now (in the background); the current facts stay until it ends."""
        with self._lock:
            self._next_refresh = float("-inf")
        self._start_refresh()

    def succeed(self, previous: FactsSource) -> None:
        if isinstance(previous, BackgroundFactsSource) and previous._loaded:
            with self._lock:
                if not self._loaded:
                    self._facts = previous._facts

    def describe(self) -> dict[str, Any]:
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            return {
                "facts": len(self._facts),
                "loaded": self._loaded,
                "refreshing": running,
                "refreshes": self._refreshes,
                "failures": self._failures,
                "consecutive_failures": self._consecutive_failures,
                "last_error": self._last_error,
                "last_success": self._last_success,
                "last_duration": self._last_duration,
                "cache_time": self.cache_time,
            }

    def wait_loaded(self, timeout: float) -> bool:
        """Wait for a refresh in progress (tests and one-shot tools such as
        ``mco facts`` run locally); True once facts were loaded at least once."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._loaded

    # --- the refresh ------------------------------------------------------------------

    def _start_refresh(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._clock() < self._next_refresh:
                return
            # Whatever happens, no second refresh before this one is over.
            self._next_refresh = float("inf")
            self._thread = threading.Thread(target=self._refresh,
                                            name=f"facts-{self.name}", daemon=True)
            self._thread.start()

    def _refresh(self) -> None:
        try:
            self._refresh_once()
        finally:
            with self._lock:  # whatever went wrong, the source must refresh again
                if self._next_refresh == float("inf"):
                    self._next_refresh = self._clock() + self.retry_time

    def _refresh_once(self) -> None:
        started = self._clock()
        try:
            facts = self.load()
            if not isinstance(facts, dict):
                raise FactsCommandError(f"produced {type(facts).__name__}, not a mapping")
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            with self._lock:
                repeated = error == self._last_error
                self._failures += 1
                self._consecutive_failures += 1
                self._last_error = error
                self._last_duration = self._clock() - started
                self._next_refresh = self._clock() + self.retry_time
            log.log(logging.DEBUG if repeated else logging.WARNING,
                    "facts source '%s' failed, keeping its last good facts (%d): %s",
                    self.name, len(self._facts), error)
            log.debug("facts source '%s' failure", self.name, exc_info=True)
            return
        with self._lock:
            recovered = self._consecutive_failures > 0
            if facts != self._facts:
                self._facts = facts
            self._loaded = True
            self._refreshes += 1
            self._consecutive_failures = 0
            self._last_success = time.time()
            self._last_duration = self._clock() - started
            self._next_refresh = self._clock() + self.cache_time
        if recovered:
            log.info("facts source '%s' works again (%d facts)", self.name, len(facts))
        else:
            log.debug("facts source '%s' refreshed: %d facts in %.2fs", self.name,
                      len(facts), self._last_duration)


class CommandFactsSource(BackgroundFactsSource):
    """Facts printed as one JSON object by a program (``facter --json``, ``ohai``)."""

    def __init__(self, name: str, command: Sequence[str], *, cache_time: float,
                 timeout: float, env: Mapping[str, str] | None = None,
                 retry_time: float | None = None) -> None:
        super().__init__(name, cache_time, retry_time=retry_time)
        self.command = list(command)
        self.timeout = timeout
        self.env = env
        self.warning: str | None = None
        self._last_warning: str | None = None

    def load(self) -> dict[str, Any]:
        code, text, stderr_line = run_facts_command(self.command, timeout=self.timeout,
                                                    env=self.env)
        if code != 0 and not text.strip():
            raise failed(self.command, code, stderr_line)
        try:
            facts = parse_json_object(text, self.command[0])
        except FactsCommandError:
            if code != 0:
                raise failed(self.command, code, stderr_line) from None
            raise
        # Facter exits 1 when one fact could not be resolved (a file it may not read)
        # and still prints all the others: keep them, and say what went wrong.
        self.warning = (f"{self.command[0]} exited with code {code}: {stderr_line}"
                        if code != 0 else None)
        if self.warning and self.warning != self._last_warning:
            log.warning("facts source '%s': %s (its other facts are used)", self.name,
                        self.warning)
        self._last_warning = self.warning
        return facts

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["command"] = " ".join(self.command)
        out["timeout"] = self.timeout
        out["warning"] = self.warning
        return out
