"""Test support for mcollective and its plugins.

The pytest plugin (:mod:`mcollective.testing.pytest_plugin`) is registered through the
``pytest11`` entry point: installing ``mcollective-core`` gives every test run its
fixtures. :class:`LocalCollective` runs real daemons and the real CLI;
:mod:`mcollective.testing.agents` runs one agent action the way the daemon does;
:mod:`mcollective.testing.contracts` holds the suites every connector and security plugin
runs; :mod:`mcollective.testing.brokers` starts private brokers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcollective.testing.collective import LocalCollective, NodeProcess

__all__ = ["LocalCollective", "NodeProcess", "choria_corpus_path"]


def choria_corpus_path() -> Path:
    """The directory of real Choria agent DDLs shipped with this package
    (``choria_ddl/``: ``<agent>.json``, ``schema/agent.json``, ``replies/``)."""
    return Path(__file__).resolve().parent / "choria_ddl"


def __getattr__(name: str) -> Any:
    # Lazily: importing mcollective.testing (as pytest does for the plugin) must not
    # import the process-spawning machinery.
    if name in ("LocalCollective", "NodeProcess"):
        from mcollective.testing import collective

        return getattr(collective, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
