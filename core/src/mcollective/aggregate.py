"""What an aggregate plugin provides: a client-side summary of one reply output."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AggregateResult:
    """``type`` is ``numeric`` (one value) or ``collection`` (value -> count)."""

    output: str
    function: str
    type: str
    value: Any
    format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Aggregate(ABC):
    def __init__(self, output: str, options: dict[str, Any]) -> None:
        self.output, self.options = output, dict(options)

    @abstractmethod
    def process(self, value: Any, reply: dict[str, Any]) -> None:
        """Take one reply's value of the output (every reply, failed ones included)."""

    @abstractmethod
    def result(self) -> AggregateResult:
        """The summary of what was processed."""
