"""What a probe gets to work with, and how probe results are combined."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProbeContext:
    """The filesystem root to read ``/etc`` and ``/proc`` under (tests point it at a
    fake tree) and the facts found by the probes that ran before."""

    root: Path = Path("/")
    facts: Mapping[str, Any] = field(default_factory=dict)

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def fact(self, dotted: str) -> Any:
        """A fact found earlier, ``None`` when absent (``fact("os.family")``)."""
        value: Any = self.facts
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value


#: A probe returns facts to merge in; it may raise, which leaves its facts out.
Probe = Callable[[ProbeContext], Mapping[str, Any]]


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, mappings merged key by key (so a probe can add
    ``os.architecture`` next to another probe's ``os.family``); neither input changes."""
    out = dict(base)
    for key, value in extra.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = merged(current, value)
        else:
            out[key] = value
    return out
