"""pytest fixtures for mcollective and plugin authors (opt-in, see the package doc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.testing.brokers import require_broker
from mcollective.testing.collective import LocalCollective


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A plugin manager with every hook spec and no entry points loaded."""
    return make_plugin_manager(load_entrypoints=False)


@pytest.fixture
def local_collective(tmp_path: Path) -> Iterator[LocalCollective]:
    """A collective of real daemons on the embedded transport; add nodes with
    ``local_collective.add_node(identity, facts=...)``. Stopped at teardown."""
    collective = LocalCollective(tmp_path / "collective")
    try:
        yield collective
    finally:
        collective.stop_all()


@pytest.fixture
def amqp_url() -> str:
    return require_broker("amqp")


@pytest.fixture
def redis_url() -> str:
    return require_broker("redis")
