"""The core loopback connector passes the connector contract every connector runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcollective import loopback
from mcollective.testing.contracts import ConnectorContract, ConnectorFactory


class LoopbackFactory(ConnectorFactory):
    """One in-process loopback 'broker' per test."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.name = f"contract-{uuid.uuid4().hex}"

    def settings(self, identity: str) -> dict[str, Any]:
        return {"connector": "loopback", "plugin.loopback.name": self.name}

    def leftovers(self, collective: str) -> set[str]:
        broker = loopback.broker(self.name)
        with broker.lock:
            nodes = {f"node:{ident}" for ident, sub in broker.nodes.items()
                     if collective in sub.collectives}
            return nodes | {f"inbox:{name}" for name in broker.inboxes}


class TestLoopbackContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> Iterator[ConnectorFactory]:
        yield LoopbackFactory(tmp_path)
