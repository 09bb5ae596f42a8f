"""``summary``: how many replies gave each value of an output (MCollective's summary).

Arrays are counted element by element, so ``summary(collectives)`` tells how many nodes
are in each collective. Options other than ``format`` relabel values, e.g.
``{"true": "enabled"}``, as Choria's summary does.
"""

from __future__ import annotations

from typing import Any

from mcollective.aggregate import Aggregate, AggregateResult
from mcollective.aggregates import value_key


class Summary(Aggregate):
    """Count replies per value (arrays element-wise); rows sorted by count."""

    def __init__(self, output: str, options: dict[str, Any]) -> None:
        super().__init__(output, options)
        self.counts: dict[str, int] = {}
        self.labels = {str(k): str(v) for k, v in self.options.items() if k != "format"}

    def label(self, value: Any) -> str:
        key = value_key(value)
        return self.labels.get(key, key)

    def process(self, value: Any, reply: dict[str, Any]) -> None:
        for item in value if isinstance(value, list) else [value]:
            key = self.label(item)
            self.counts[key] = self.counts.get(key, 0) + 1

    def result(self) -> AggregateResult:
        return AggregateResult(self.output, "summary", "collection", dict(self.counts),
                               self.format)
