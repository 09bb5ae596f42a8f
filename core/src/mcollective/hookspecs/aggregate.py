"""Aggregate plugins: client-side summaries of one output across all replies.

Entry-point group ``mcollective.aggregates``; named by the ``aggregate`` blocks of DDLs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.aggregate import Aggregate


@hookspec(firstresult=True)
def mco_aggregate_create(
    name: str, output: str, options: dict[str, Any]
) -> Aggregate:
    """Create a fresh aggregate ``name`` over the reply output ``output``.

    Called by a client once per aggregate declared by the action's DDL, before replies
    are processed. An aggregate that cannot be found or raises is reported per output as
    "Could not compute summary"; the request itself never fails because of it.
    """
