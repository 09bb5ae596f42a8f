"""pytest fixtures and markers for mcollective and its plugins.

Registered through the ``pytest11`` entry point of ``mcollective-core``, so every test
run that has core installed gets them, from a source checkout or from an unpacked sdist
alike, with no ``conftest.py`` switch. Loading this module costs nothing: the fixtures
import what they need when a test first asks for them.

Markers: ``broker(name)`` for tests that need a real broker (they skip when it is
unreachable, unless ``MCO_REQUIRE_BROKERS=1``), ``slow`` for tests that take more than
a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mcollective.plugins import PluginManager
    from mcollective.testing.collective import LocalCollective


def pytest_configure(config: pytest.Config) -> None:
    """The markers, and Hypothesis without deadlines and derandomized: CI runs on two
    loaded cores, where a deadline fails a test for the machine's business, not the
    code's."""
    config.addinivalue_line(
        "markers", "broker(name): needs a real broker (amqp, redis, nats, sqs); skipped "
                   "when unreachable unless MCO_REQUIRE_BROKERS=1")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("mcollective", deadline=None, derandomize=True,
                              print_blob=True)
    settings.load_profile("mcollective")


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A plugin manager with every hook spec and no entry points loaded."""
    from mcollective.plugins import make_plugin_manager

    return make_plugin_manager(load_entrypoints=False)


@pytest.fixture
def local_collective(tmp_path: Path) -> Iterator[LocalCollective]:
    """A collective of real daemons on the embedded transport; add nodes with
    ``local_collective.add_node(identity, facts=...)``. Stopped at teardown."""
    from mcollective.testing.collective import LocalCollective

    collective = LocalCollective(tmp_path / "collective")
    try:
        yield collective
    finally:
        collective.stop_all()


@pytest.fixture
def choria_corpus() -> Path:
    """Real Choria agent DDLs, their JSON Schema and sample replies, byte for byte as
    upstream publishes them (see ``README.md`` there for provenance): what an agent
    that claims Choria compatibility is compared with."""
    from mcollective.testing import choria_corpus_path

    return choria_corpus_path()


@pytest.fixture
def amqp_url() -> str:
    from mcollective.testing.brokers import require_broker

    return require_broker("amqp")


@pytest.fixture
def redis_url() -> str:
    from mcollective.testing.brokers import require_broker

    return require_broker("redis")


@pytest.fixture
def nats_url() -> str:
    from mcollective.testing.brokers import require_broker

    return require_broker("nats")


@pytest.fixture(scope="session")
def sqs_url() -> Iterator[str]:
    """An ``sqs://`` URL: ``MCO_TEST_SQS_URL`` if set, else a moto server started for
    this session (stopped at its end). Skips, or fails with ``MCO_REQUIRE_BROKERS=1``,
    when moto is not installed."""
    import os

    from mcollective.testing.brokers import SQS_ENV, MotoServer, brokers_required, moto_available

    if os.environ.get(SQS_ENV):
        yield os.environ[SQS_ENV]
        return
    problem = moto_available()
    if problem:
        if brokers_required():
            pytest.fail(f"MCO_REQUIRE_BROKERS=1 but {problem}")
        pytest.skip(problem)
    server = MotoServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
