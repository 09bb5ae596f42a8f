"""Data plugins: node-side queries usable in ``-S`` filters and ``rpcutil get_data``.

Entry-point group ``mcollective.data``; every installed data plugin is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.data import DataPlugin


@hookspec(firstresult=True)
def mco_data_create(name: str, config: Config) -> DataPlugin:
    """Create the data plugin named ``name``.

    Called by the daemon at start-up and on reload, and by clients that validate ``-S``
    expressions against the plugin's DDL. Raising is not fatal: the plugin is logged by
    name and left out (expressions that use it then match nothing).
    """
