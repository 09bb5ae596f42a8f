"""The connector contract (``mcollective.testing.contracts``) on the running NATS
server: routing, sub-collectives, many identities per connector, stale requests,
nothing left behind after a close or a crash (asked of the server itself), and 1,000
requests without a lost reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nats_test_support import NatsFactory

from mcollective.testing.contracts import ConnectorContract, ConnectorFactory
from mcollective.testing.hostile import HostileContract


@pytest.mark.broker("nats")
class TestNatsContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path, nats_url: str
                          ) -> Iterator[ConnectorFactory]:
        factory = NatsFactory(tmp_path, nats_url)
        yield factory
        factory.close()


@pytest.mark.broker("nats")
class TestNatsHostile(HostileContract):
    """Real daemons on NATS keep answering while hostile traffic runs."""

    @pytest.fixture
    def connector_factory(self, tmp_path: Path, nats_url: str
                          ) -> Iterator[ConnectorFactory]:
        factory = NatsFactory(tmp_path, nats_url)
        yield factory
        factory.close()
