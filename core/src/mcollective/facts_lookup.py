"""Reading one fact by name, where names may be dotted paths into structured facts.

The same rule the filter engine applies (``-F os.family=Debian``), so that
``rpcutil get_fact`` and filters never disagree about what a name refers to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcollective.filters._values import MISSING, fact_lookup


def lookup_fact(facts: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The fact ``name``: a literal key wins; otherwise a dotted path walks nested
    mappings and list indexes (``os.release.major``, ``interfaces.0``)."""
    value = fact_lookup(name)(facts)
    return default if value is MISSING else value
