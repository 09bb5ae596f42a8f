"""``average``: the mean of a numeric output (``Average of <output>: %f``)."""

from __future__ import annotations

from typing import Any

from mcollective.aggregate import Aggregate, AggregateError, AggregateResult
from mcollective.aggregates import number


class Average(Aggregate):
    """The mean of a numeric output over every reply that holds it."""

    default_format = "Average of {output}: %f"

    def __init__(self, output: str, options: dict[str, Any]) -> None:
        super().__init__(output, options)
        self.total: float = 0
        self.count = 0

    def process(self, value: Any, reply: dict[str, Any]) -> None:
        self.total += number(value, self.output)
        self.count += 1

    def result(self) -> AggregateResult:
        if not self.count:
            raise AggregateError("no reply held a value")
        return AggregateResult(self.output, "average", "numeric", self.total / self.count,
                               self.format, {"count": self.count})
