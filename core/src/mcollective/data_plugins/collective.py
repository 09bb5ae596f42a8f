"""``collective('dev')``: whether the node is a member of a collective."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcollective.data import DataPlugin, DataPluginError


class CollectiveData(DataPlugin):
    """``member`` (boolean): ``-S "collective('dev').member=true"``."""

    name = "collective"

    def run(self, argument: Any) -> Mapping[str, Any]:
        if self.context is not None:
            collectives = self.context.node().collectives
        elif self.config is not None:
            collectives = self.config.collectives
        else:
            raise DataPluginError("the collective data plugin only answers on a node")
        return {"member": str(argument) in collectives}
