"""pytest fixtures for mcollective and plugin authors (opt-in, see the package doc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.testing.brokers import require_broker
from mcollective.testing.collective import LocalCollective


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis without deadlines and derandomized: CI runs on two loaded cores,
    where a deadline fails a test for the machine's business, not the code's."""
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
def choria_corpus(request: pytest.FixtureRequest) -> Path:
    """The Choria agent DDL corpus vendored in this repository (tests/data/choria-ddl),
    for compatibility tests; skipped outside a checkout."""
    path = request.config.rootpath / "tests" / "data" / "choria-ddl"
    if not path.is_dir():
        pytest.skip(f"Choria DDL corpus not found at {path} (not a source checkout)")
    return path


@pytest.fixture
def amqp_url() -> str:
    return require_broker("amqp")


@pytest.fixture
def redis_url() -> str:
    return require_broker("redis")


@pytest.fixture
def nats_url() -> str:
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
