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


class Facts:
    """The facts sources of a node, merged in configured order: later sources override
    earlier ones key by key."""

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

    def reload(self) -> None:
        for name, source in self.sources:
            try:
                source.reload()
            except Exception:
                log.exception("facts source '%s' failed to reload", name)
        self._parts = None
