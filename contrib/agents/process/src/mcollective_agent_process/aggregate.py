"""``process_summary``: how many hosts and processes matched, and their memory, summed
over every reply of ``process list`` (the aggregate Choria's process DDL names)."""

from __future__ import annotations

import math
from typing import Any

from mcollective.aggregate import Aggregate, AggregateResult
from mcollective.hookspecs import hookimpl

FORMAT = ("        Matched hosts: %s\n"
          "    Matched Processes: %s\n"
          "        Resident Size: %s\n"
          "         Virtual Size: %s")

_UNITS = ("B", "KB", "MB", "GB", "TB")


def bytes_to_human(number: float) -> str:
    """``1536`` → ``1.5 KB``: three decimals at most, trailing zeros dropped, capped at
    TB (as Choria's process application prints sizes)."""
    if number < 1:
        return "0 B"
    exponent = min(int(math.log(number, 1024)), len(_UNITS) - 1)
    text = f"{number / 1024 ** exponent:.3f}".rstrip("0").rstrip(".")
    return f"{text} {_UNITS[exponent]}"


class MultiValueResult(AggregateResult):
    """A ``numeric`` result made of several values, rendered as MCollective rendered an
    array result: each element fills one ``%`` directive of the format (the generic
    numeric rendering passes the value as a single argument)."""

    def lines(self) -> list[str]:
        return ((self.format or "%s") % tuple(self.value)).splitlines()


class ProcessSummary(Aggregate):
    """Counts hosts with at least one match, matched processes, and sums their resident
    (``rss``, KiB) and virtual (``vsize``, bytes) sizes."""

    def __init__(self, output: str, options: dict[str, Any]) -> None:
        super().__init__(output, options)
        self.hosts = self.processes = 0
        self.rss = self.vsize = 0

    def process(self, value: Any, reply: dict[str, Any]) -> None:
        if not isinstance(value, list) or not value:
            return
        self.hosts += 1
        for entry in value:
            if not isinstance(entry, dict):
                continue
            self.processes += 1
            self.rss += int(entry.get("rss") or 0) * 1024
            self.vsize += int(entry.get("vsize") or 0)

    def result(self) -> AggregateResult:
        return MultiValueResult(
            output=self.output, function="process_summary", type="numeric",
            value=(self.hosts, self.processes, bytes_to_human(self.rss),
                   bytes_to_human(self.vsize)),
            format=self.options.get("format") or FORMAT,
        )


class ProcessSummaryPlugin:
    """Plugin object for the ``mcollective.aggregates`` entry point."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = ("How many hosts and processes matched, and their memory, over every "
                   "reply of process list")

    @hookimpl
    @staticmethod
    def mco_aggregate_create(output: str, options: dict[str, Any]) -> Aggregate:
        return ProcessSummary(output, options)
