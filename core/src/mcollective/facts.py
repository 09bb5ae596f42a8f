"""Facts: what a node is, as the merge of its configured facts sources."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)


class FactsSource(ABC):
    """One source of facts. :meth:`get` is called often (every filter and inventory), so
    a source caches and reloads when its data changed; when a reload fails it logs the
    problem and keeps returning its last good facts."""

    @abstractmethod
    def get(self) -> Mapping[str, Any]:
        """The current facts of this source."""

    def reload(self) -> None:  # noqa: B027 - optional for sources that always read fresh
        """Drop caches (SIGHUP)."""

    def start(self) -> None:  # noqa: B027 - optional: only slow sources need it
        """The daemon loaded this source: a source whose facts are slow to produce
        (Facter, Ohai) starts producing them now, in the background, so that the first
        request does not find it empty (see :mod:`mcollective.facts_cache`)."""

    def succeed(self, previous: FactsSource) -> None:  # noqa: B027 - optional
        """This source replaces ``previous`` of the same name (a configuration reload):
        a slow source keeps answering with the facts ``previous`` had until its own
        first refresh ends, instead of having none meanwhile."""

    def describe(self) -> Mapping[str, Any] | None:
        """What ``rpcutil daemon_stats`` shows of this source (``facts.<name>``):
        refreshes, failures, the last error; ``None`` for nothing worth showing."""
        return None


class Facts:
    """The facts sources of a node, merged in configured order (``factsource``): later
    sources override earlier ones key by key (top-level keys: a later source's ``os``
    replaces an earlier one's ``os`` as a whole, structured facts are never mixed)."""

    def __init__(self, sources: Sequence[tuple[str, FactsSource]] = ()) -> None:
        self.sources = list(sources)
        self._parts: list[Mapping[str, Any]] | None = None
        self._merged: dict[str, Any] = {}

    def get(self) -> dict[str, Any]:
        parts = []
        for name, source in self.sources:
            try:
                parts.append(source.get())
            except Exception:
                log.exception("facts source '%s' failed; its facts are left out", name)
                parts.append({})
        # Sources return the same mapping object while unchanged: merge only on change.
        if self._parts is None or len(parts) != len(self._parts) or any(
            a is not b for a, b in zip(parts, self._parts, strict=True)
        ):
            merged: dict[str, Any] = {}
            for part in parts:
                merged.update(part)
            self._parts, self._merged = parts, merged
        return self._merged

    def succeed(self, previous: Facts) -> None:
        """The sources replace those of ``previous`` (a reload): see
        :meth:`FactsSource.succeed`."""
        old = dict(previous.sources)
        for name, source in self.sources:
            if name in old:
                try:
                    source.succeed(old[name])
                except Exception:
                    log.exception("facts source '%s' could not take over its facts", name)

    def start(self) -> None:
        for name, source in self.sources:
            try:
                source.start()
            except Exception:
                log.exception("facts source '%s' failed to start", name)

    def describe(self) -> dict[str, Any]:
        """``{source: description}`` of the sources that describe themselves."""
        out: dict[str, Any] = {}
        for name, source in self.sources:
            try:
                info = source.describe()
            except Exception as exc:
                info = {"error": f"{type(exc).__name__}: {exc}"}
            if info is not None:
                out[name] = dict(info)
        return out

    def reload(self) -> None:
        for name, source in self.sources:
            try:
                source.reload()
            except Exception:
                log.exception("facts source '%s' failed to reload", name)
        self._parts = None
