"""The system facts source: run the probes, cache the result, never fail as a whole."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mcollective.facts import FactsSource
from mcollective_facts_system.context import Probe, ProbeContext, merged
from mcollective_facts_system.probes import DYNAMIC_PROBES, STATIC_PROBES

log = logging.getLogger(__name__)


class SystemFactsSource(FactsSource):
    """Facts about this machine, cached for ``cache_time`` seconds.

    Static probes (OS, kernel, CPUs, names) run on the first :meth:`get` and after
    :meth:`reload`; dynamic ones (memory, addresses, uptime, load) run whenever the
    cache has expired. The same dict object is returned until a refresh finds different
    facts; callers must not modify it. A probe that raises is logged (a warning the
    first time, debug while it keeps failing) and its facts are left out: one broken
    probe never costs the node its other facts.
    """

    def __init__(
        self, cache_time: float, *, root: Path = Path("/"),
        static_probes: Sequence[tuple[str, Probe]] = STATIC_PROBES,
        dynamic_probes: Sequence[tuple[str, Probe]] = DYNAMIC_PROBES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_time = cache_time
        self.root = root
        self._static_probes = list(static_probes)
        self._dynamic_probes = list(dynamic_probes)
        self._clock = clock
        self._lock = threading.Lock()
        self._static: dict[str, Any] | None = None
        self._facts: dict[str, Any] | None = None
        self._expires = float("-inf")
        self._failing: set[str] = set()

    def get(self) -> dict[str, Any]:
        facts = self._facts
        if facts is not None and self._clock() < self._expires:
            return facts
        # While one thread refreshes, others keep answering with the facts they have;
        # only the very first call has nothing to answer with and waits.
        if not self._lock.acquire(blocking=facts is None):
            return facts  # type: ignore[return-value]  # not None: blocking otherwise
        try:
            if self._facts is None or self._clock() >= self._expires:
                self._refresh()
            assert self._facts is not None
            return self._facts
        finally:
            self._lock.release()

    def reload(self) -> None:
        """Run every probe again on the next :meth:`get`, the static ones included."""
        with self._lock:
            self._static = None
            self._expires = float("-inf")

    def _refresh(self) -> None:
        if self._static is None:
            self._static = self._run(self._static_probes, {})
        facts = self._run(self._dynamic_probes, self._static)
        if facts != self._facts:
            self._facts = facts
        self._expires = self._clock() + self.cache_time

    def _run(self, probes: Sequence[tuple[str, Probe]], base: dict[str, Any]
             ) -> dict[str, Any]:
        facts = base
        for name, probe in probes:
            try:
                found = probe(ProbeContext(self.root, facts))
            except Exception as exc:
                level = logging.DEBUG if name in self._failing else logging.WARNING
                self._failing.add(name)
                log.log(level, "system facts: probe '%s' failed, its facts are left out: "
                        "%s: %s", name, type(exc).__name__, exc)
                log.debug("probe '%s' failure", name, exc_info=True)
                continue
            if name in self._failing:
                self._failing.discard(name)
                log.info("system facts: probe '%s' works again", name)
            facts = merged(facts, found)
        return facts
