"""Fixtures: one test body, four transports (memory, filesystem, RabbitMQ, Redis).

Helpers live in :mod:`kombu_test_support`; see there for the broker environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kombu_test_support import AMQP_URL, REDIS_URL, Broker, Harness, require_broker

AMQP = pytest.param("amqp", marks=pytest.mark.broker("amqp"))
REDIS = pytest.param("redis", marks=pytest.mark.broker("redis"))


def _broker(family: str, tmp_path: os.PathLike[str]) -> Iterator[Broker]:
    if family == "memory":
        url = "memory://"
    elif family == "filesystem":
        url = f"filesystem://{tmp_path}/broker"
    else:
        url = AMQP_URL if family == "amqp" else REDIS_URL
        require_broker(family, url)
    b = Broker(family, url)
    yield b
    b.cleanup()


@pytest.fixture(params=["memory", "filesystem", AMQP, REDIS])
def broker(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[Broker]:
    """Every transport."""
    yield from _broker(request.param, tmp_path)


@pytest.fixture(params=[AMQP, REDIS])
def network_broker(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
                   ) -> Iterator[Broker]:
    """The real brokers only (connections that can be lost)."""
    yield from _broker(request.param, tmp_path)


@pytest.fixture
def harness(broker: Broker) -> Iterator[Harness]:
    h = Harness(broker)
    yield h
    h.close()


@pytest.fixture
def network_harness(network_broker: Broker) -> Iterator[Harness]:
    h = Harness(network_broker)
    yield h
    h.close()
