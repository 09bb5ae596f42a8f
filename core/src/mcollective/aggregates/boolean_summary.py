"""``boolean_summary``: counts of true and false, with labels (puppet agent's
``{"true": "enabled", "false": "disabled"}``).

Booleans sent as strings (``"true"``, ``"no"``) count as booleans, because agents in
other languages often reply that way; anything else is counted under its own text rather
than failing the summary.
"""

from __future__ import annotations

from typing import Any

from mcollective.aggregate import AggregateResult
from mcollective.aggregates.summary import Summary

_TRUE = {"true", "yes", "y", "t", "1"}
_FALSE = {"false", "no", "n", "f", "0"}


class BooleanSummary(Summary):
    """Count true/false replies, relabelled by the options' ``true``/``false`` keys."""

    def label(self, value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            value = value.strip().lower() in _TRUE
        return super().label(value)

    def result(self) -> AggregateResult:
        res = super().result()
        res.function = "boolean_summary"
        return res
