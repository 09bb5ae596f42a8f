"""``fact('os.family')``: one fact, dotted paths walking structured facts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcollective.data import DataPlugin, DataPluginError
from mcollective.facts_lookup import lookup_fact

_MISSING = object()


class FactData(DataPlugin):
    """``exists``, ``value`` and ``value_encoding`` of a fact.

    Scalars keep their type (MCollective stringified every fact, so
    ``fact('cpus').value>10`` never matched); hashes and arrays are returned as JSON
    text with ``value_encoding`` ``application/json``. Paths follow the same rule as
    ``-F`` and ``rpcutil get_fact``: a literal key wins, else dots walk hashes and
    numeric parts index arrays.
    """

    name = "fact"

    def run(self, argument: Any) -> Mapping[str, Any]:
        if self.context is None:
            raise DataPluginError("the fact data plugin only answers on a node")
        value = lookup_fact(self.context.node().facts, str(argument), _MISSING)
        if value is _MISSING or value is None:
            return {"exists": False, "value": None, "value_encoding": None}
        if isinstance(value, (dict, list)):
            return {"exists": True, "value": json.dumps(value, sort_keys=True),
                    "value_encoding": "application/json"}
        return {"exists": True, "value": value, "value_encoding": "text/plain"}
