"""The aggregate plugins core ships: ``summary``, ``boolean_summary``, ``average``,
``sum`` and ``chart`` (entry-point group ``mcollective.aggregates``).

They match the functions real Choria DDLs name; see :mod:`mcollective.aggregate` for the
plugin API and how failures are reported.
"""

from __future__ import annotations

import json
from typing import Any

from mcollective.aggregate import AggregateError


def value_key(value: Any) -> str:
    """How a reply value is counted and shown: JSON spelling for booleans and
    structures (``true``, ``{"a": 1}``), the plain text for strings and numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def number(value: Any, output: str) -> float | int:
    """A numeric reply value: ints and floats, or strings that spell one (agents
    written in shell often reply with strings). Booleans are not numbers here."""
    if isinstance(value, bool):
        raise AggregateError(f"'{output}' is a boolean, not a number: {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                pass
    raise AggregateError(f"'{output}' is not a number: {value!r}")


__all__ = ["number", "value_key"]
