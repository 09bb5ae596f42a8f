"""Test support for mcollective and its plugins.

Opt in from a ``conftest.py`` with ``pytest_plugins = ["mcollective.testing.pytest_plugin"]``
(it is not auto-loaded). :class:`LocalCollective` runs real daemons and the real CLI.
"""

from __future__ import annotations

from mcollective.testing.collective import LocalCollective, NodeProcess

__all__ = ["LocalCollective", "NodeProcess"]
