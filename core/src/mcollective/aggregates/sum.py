"""``sum``: the total of a numeric output (``Sum of <output>: %f``)."""

from __future__ import annotations

from typing import Any

from mcollective.aggregate import Aggregate, AggregateResult
from mcollective.aggregates import number


class Sum(Aggregate):
    """The total of a numeric output over every reply that holds it."""

    default_format = "Sum of {output}: %f"

    def __init__(self, output: str, options: dict[str, Any]) -> None:
        super().__init__(output, options)
        self.total: float = 0
        self.count = 0

    def process(self, value: Any, reply: dict[str, Any]) -> None:
        self.total += number(value, self.output)
        self.count += 1

    def result(self) -> AggregateResult:
        return AggregateResult(self.output, "sum", "numeric", self.total, self.format,
                               {"count": self.count})
