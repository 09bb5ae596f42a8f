"""Aggregates: client-side summaries of one reply output across every reply of a call.

A DDL action may declare summaries (``"aggregate": [{"function": "summary", "args":
["ensure"]}]``). The client computes them while replies arrive, with one fresh plugin
instance per declared summary, and prints them after the results (``Summary of
Ensure:``). Plugins live in the entry-point group ``mcollective.aggregates``; an
:class:`Aggregate` subclass is its own plugin (the base class implements the hook).

Summaries are a courtesy, never a reason to fail a request: a plugin that is missing is
*skipped* (real DDLs name Ruby-only functions such as ``nagios_states``), and one that
raises is recorded as a *failure* of that output only. :class:`ActionSummaries` is the
collector that enforces this.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mcollective.errors import PluginLoadError
from mcollective.hookspecs import hookimpl

if TYPE_CHECKING:
    from mcollective.client.results import Result
    from mcollective.ddl import ActionDDL, AggregateSpec
    from mcollective.plugins import PluginManager

log = logging.getLogger(__name__)

#: The result kinds renderers know: one number, value -> count, or ordered chart rows.
RESULT_TYPES = ("numeric", "collection", "chart")


class AggregateError(Exception):
    """Raised by a plugin for a value or option it cannot use; the message becomes the
    reason shown after ``Could not compute summary -``."""


@dataclass
class AggregateResult:
    """What one aggregate computed.

    ``type`` is ``numeric`` (``value`` is one number), ``collection`` (``value`` maps a
    label to its count) or ``chart`` (``value`` is a list of ``[label, count]`` rows kept
    in order). ``format`` is the printf-style format used to render it (MCollective's
    ``:format``: ``"Average: %0.2f"`` for a number, ``"%s = %s"`` for each row).
    """

    output: str
    function: str
    type: str
    value: Any
    format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary as text lines, without indentation (raises :class:`AggregateError`
        when ``format`` does not fit the value)."""
        try:
            if self.type == "numeric":
                return [(self.format or "%s") % (self.value,)]
            if self.type == "collection":
                rows = sorted(self.value.items(), key=lambda kv: (-kv[1], str(kv[0])))
                return _rows(self.format, [(str(k), v) for k, v in rows])
            if self.type == "chart":
                rows = [(str(k), v) for k, v in self.value]
                return _rows(self.format, rows) if self.format else _bars(rows)
        except (TypeError, ValueError, KeyError) as exc:
            raise AggregateError(f"format {self.format!r} does not fit the result: {exc}"
                                 ) from None
        raise AggregateError(f"unknown result type {self.type!r}")

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        if self.type == "chart":
            value = [list(row) for row in value]
        return {"output": self.output, "function": self.function, "type": self.type,
                "value": value, "format": self.format, **({"extra": self.extra}
                                                          if self.extra else {})}


def _rows(fmt: str | None, rows: list[tuple[str, Any]]) -> list[str]:
    if fmt is None:
        width = max((len(k) for k, _ in rows), default=0)
        fmt = f"%{width}s = %s"
    return [fmt % (k, v) for k, v in rows]


def _bars(rows: list[tuple[str, Any]], width: int = 40) -> list[str]:
    """A horizontal bar per row, scaled to the largest count."""
    most = max((v for _, v in rows), default=0) or 1
    label_w = max((len(k) for k, _ in rows), default=0)
    lines = []
    for k, v in rows:
        bar = "#" * round(v * width / most)
        lines.append(f"{k:>{label_w}} | {bar + ' ' if bar else ''}{v}")
    return lines


class Aggregate(ABC):
    """Base class of aggregate plugins.

    A plugin sees every reply whose data holds the output (``None`` values are left out,
    as they mean "no value"); :meth:`process` takes the value and the whole reply, and
    :meth:`result` returns the summary. Raise :class:`AggregateError` for a value that
    cannot be used; the summary of that output is then reported as not computed.

    ``options`` are the DDL's second aggregate argument: ``format`` plus any
    plugin-specific keys (label maps for ``summary`` and ``boolean_summary``).
    """

    #: printf-style format used when the DDL gives none; ``{output}`` is replaced by the
    #: output's name (``"Average of {output}: %f"``).
    default_format: ClassVar[str | None] = None

    def __init__(self, output: str, options: Mapping[str, Any]) -> None:
        self.output, self.options = output, dict(options)

    @hookimpl
    @classmethod
    def mco_aggregate_create(cls, output: str, options: dict[str, Any]) -> Aggregate:
        return cls(output, options)

    @property
    def format(self) -> str | None:
        fmt = self.options.get("format")
        if fmt is not None:
            if not isinstance(fmt, str):
                raise AggregateError(f"'format' must be a string, got {fmt!r}")
            return fmt
        return self.default_format.replace("{output}", self.output) \
            if self.default_format else None

    @abstractmethod
    def process(self, value: Any, reply: dict[str, Any]) -> None:
        """Take one reply's value of the output."""

    @abstractmethod
    def result(self) -> AggregateResult:
        """The summary of what was processed."""


# --- the client-side collector -----------------------------------------------------------


@dataclass
class SummaryFailure:
    """A summary that could not be computed; ``stage`` is where it failed (``create``,
    ``process``, ``summarize``), ``reason`` what to show the user."""

    output: str
    function: str
    stage: str
    reason: str

    def __str__(self) -> str:
        return f"{self.function}({self.output}): {self.reason}"


@dataclass
class SummaryReport:
    """Everything the summaries of one call produced, in DDL order."""

    results: list[AggregateResult] = field(default_factory=list)
    failures: list[SummaryFailure] = field(default_factory=list)
    #: ``(function, output)`` pairs naming functions no installed plugin provides.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.results or self.failures or self.skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [r.to_dict() for r in self.results],
            "failures": [{"output": f.output, "function": f.function, "stage": f.stage,
                          "reason": f.reason} for f in self.failures],
            "skipped": [{"function": fn, "output": out} for fn, out in self.skipped],
        }


class _Slot:
    """One declared summary: its spec and the live plugin instance (or why there is
    none)."""

    __slots__ = ("failure", "instance", "spec")

    def __init__(self, spec: AggregateSpec) -> None:
        self.spec = spec
        self.instance: Aggregate | None = None
        self.failure: SummaryFailure | None = None

    def fail(self, stage: str, reason: str) -> None:
        self.instance = None
        self.failure = SummaryFailure(self.spec.output, self.spec.function, stage, reason)


class ActionSummaries:
    """Computes the summaries an action's DDL declares, one reply at a time.

    Create it before replies arrive, call :meth:`process` for each result as it comes
    (memory stays constant however many nodes answer), then :meth:`report`. Nothing here
    raises: every problem becomes a failure or a skip in the report.
    """

    def __init__(self, action: ActionDDL | None, plugins: PluginManager) -> None:
        self.slots: list[_Slot] = []
        self.skipped: list[tuple[str, str]] = []
        seen: set[tuple[str, str, str]] = set()
        for spec in (action.aggregates if action is not None else ()):
            key = (spec.function, spec.output, repr(sorted(spec.options.items())))
            if key in seen:  # real DDLs repeat entries (package: summary(output) twice)
                continue
            seen.add(key)
            slot = _Slot(spec)
            try:
                slot.instance = plugins.create_aggregate(spec.function, spec.output,
                                                         dict(spec.options))
            except PluginLoadError as exc:
                if exc.cause is None:
                    log.debug("aggregate %s(%s) skipped: no such plugin", spec.function,
                              spec.output)
                    self.skipped.append((spec.function, spec.output))
                    continue
                slot.fail("create", f"could not load the {spec.function} plugin: "
                                    f"{exc.cause}")
            except Exception as exc:
                slot.fail("create", f"{type(exc).__name__}: {exc}")
            self.slots.append(slot)

    def __bool__(self) -> bool:
        return bool(self.slots or self.skipped)

    def process(self, result: Result) -> None:
        """Feed one result to every live aggregate whose output it holds."""
        data = result.data
        if not isinstance(data, dict):
            return
        reply: dict[str, Any] | None = None
        for slot in self.slots:
            if slot.instance is None:
                continue
            value = data.get(slot.spec.output)
            if value is None:
                continue
            if reply is None:
                reply = result.to_dict()
            try:
                slot.instance.process(value, reply)
            except AggregateError as exc:
                slot.fail("process", f"{exc} (reply from {result.sender})")
            except Exception as exc:
                log.debug("aggregate %s failed", slot.spec.function, exc_info=True)
                slot.fail("process", f"exception raised while processing the reply from "
                                     f"{result.sender}: {type(exc).__name__}: {exc}")

    def process_all(self, results: Iterable[Result]) -> SummaryReport:
        for result in results:
            self.process(result)
        return self.report()

    def report(self) -> SummaryReport:
        """The results so far; a result whose format does not fit becomes a failure."""
        out = SummaryReport(skipped=list(self.skipped))
        for slot in self.slots:
            if slot.instance is not None:
                try:
                    res = slot.instance.result()
                    res.lines()  # a format that cannot render is this summary's failure
                    out.results.append(res)
                    continue
                except AggregateError as exc:
                    slot.fail("summarize", str(exc))
                except Exception as exc:
                    slot.fail("summarize", f"exception raised while summarizing: "
                                           f"{type(exc).__name__}: {exc}")
            if slot.failure is not None:
                out.failures.append(slot.failure)
        return out


def summarize(action: ActionDDL | None, results: Iterable[Result],
              plugins: PluginManager) -> SummaryReport:
    """The summaries of ``action`` over ``results`` in one go (for scripts that already
    hold every result)."""
    return ActionSummaries(action, plugins).process_all(results)


__all__ = [
    "RESULT_TYPES",
    "ActionSummaries",
    "Aggregate",
    "AggregateError",
    "AggregateResult",
    "SummaryFailure",
    "SummaryReport",
    "summarize",
]
