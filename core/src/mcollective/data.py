"""What a data plugin provides: a named node-side query with declared outputs.

Data plugins answer ``-S "name('query').output OP value"`` filter functions and
``rpcutil get_data``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any


class DataPlugin(ABC):
    #: Plugin name, as used in filters: ``fstat('/etc/hosts')``.
    name: str = ""
    description: str = ""
    #: Output name -> description; used to validate ``.output`` accessors client-side.
    outputs: Mapping[str, str] = {}
    #: Whether the query argument may be omitted.
    query_optional: bool = False

    @abstractmethod
    def query(self, argument: str | None) -> Mapping[str, Any]:
        """The outputs for ``argument``. Values are str, int, float or bool. Raise
        :class:`mcollective.errors.MCollectiveError` for a bad argument."""
