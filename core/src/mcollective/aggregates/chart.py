"""``chart``: a histogram of a numeric output, as Choria's ``chart`` aggregate.

Values are put into ``buckets`` (option, default 8) equal ranges between the smallest and
largest value and drawn as bars, so a spread (load averages, run times) is visible at a
glance. With ``format`` each row is ``format % (range, count)`` instead of a bar.
"""

from __future__ import annotations

from typing import Any

from mcollective.aggregate import Aggregate, AggregateError, AggregateResult
from mcollective.aggregates import number


class Chart(Aggregate):
    """A histogram of a numeric output in equal-width buckets."""

    def __init__(self, output: str, options: dict[str, Any]) -> None:
        super().__init__(output, options)
        buckets = self.options.get("buckets", 8)
        if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
            raise AggregateError(f"'buckets' must be a whole number of 1 or more, "
                                 f"got {buckets!r}")
        self.buckets = buckets
        self.values: list[float | int] = []

    def process(self, value: Any, reply: dict[str, Any]) -> None:
        self.values.append(number(value, self.output))

    def result(self) -> AggregateResult:
        if not self.values:
            raise AggregateError("no reply held a value")
        low, high = min(self.values), max(self.values)
        if low == high:
            return AggregateResult(self.output, "chart", "chart",
                                   [[_fmt(low), len(self.values)]], self.options.get("format"))
        step = (high - low) / self.buckets
        counts = [0] * self.buckets
        for v in self.values:
            counts[min(int((v - low) / step), self.buckets - 1)] += 1
        rows = [[f"{_fmt(low + i * step)} - {_fmt(low + (i + 1) * step)}", n]
                for i, n in enumerate(counts)]
        return AggregateResult(self.output, "chart", "chart", rows,
                               self.options.get("format"), {"min": low, "max": high})


def _fmt(v: float) -> str:
    return f"{v:g}" if isinstance(v, int) or v == int(v) else f"{v:.2f}"
