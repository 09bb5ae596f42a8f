"""Reading one fact by name, where names may be dotted paths into structured facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_MISSING = object()


def lookup_fact(facts: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The fact ``name``: a literal top-level key wins; otherwise a dotted path walks
    nested mappings and list indexes (``os.release.major``, ``interfaces.0``)."""
    if name in facts:
        return facts[name]
    value: Any = facts
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, Sequence) and not isinstance(value, str) and part.isdigit() \
                and int(part) < len(value):
            value = value[int(part)]
        else:
            return default
    return value
