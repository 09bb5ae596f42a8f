"""``nettest_mma``: minimum, maximum and average of a numeric output (the ping ``rtt``)
over every reply, the aggregate Choria's nettest DDL names."""

from __future__ import annotations

from typing import Any

from mcollective.aggregate import Aggregate, AggregateResult
from mcollective.hookspecs import hookimpl

DEFAULT_FORMAT = "Min: %.3f  Max: %.3f  Average: %.3f"


def _number(value: Any) -> float | None:
    """Numbers and numeric strings count; anything else (a failed node's ``None``)
    is skipped."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class MultiValueResult(AggregateResult):
    """A ``numeric`` result made of several values, rendered as MCollective rendered an
    array result: each element fills one ``%`` directive of the format (the generic
    numeric rendering passes the value as a single argument)."""

    def lines(self) -> list[str]:
        return ((self.format or "%s") % tuple(self.value)).splitlines()


class NettestMma(Aggregate):
    def __init__(self, output: str, options: dict[str, Any]) -> None:
        super().__init__(output, options)
        self.values: list[float] = []

    def process(self, value: Any, reply: dict[str, Any]) -> None:
        number = _number(value)
        if number is not None:
            self.values.append(number)

    def result(self) -> AggregateResult:
        values = self.values
        value = (min(values), max(values), sum(values) / len(values)) if values \
            else (0.0, 0.0, 0.0)
        return MultiValueResult(output=self.output, function="nettest_mma", type="numeric",
                               value=value,
                               format=self.options.get("format") or DEFAULT_FORMAT,
                               extra={"count": len(values)})


class NettestMmaPlugin:
    """Plugin object for the ``mcollective.aggregates`` entry point."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "Minimum, maximum and average of a numeric output (the ping rtt) over every reply"

    @hookimpl
    @staticmethod
    def mco_aggregate_create(output: str, options: dict[str, Any]) -> Aggregate:
        return NettestMma(output, options)
