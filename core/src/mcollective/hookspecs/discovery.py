"""Discovery methods: how a client finds the nodes that match a filter.

Entry-point group ``mcollective.discovery``; chosen with ``--dm`` or the
``default_discovery_method`` config key (default ``mc``, a broadcast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.discovery import DiscoveryMethod


@hookspec(firstresult=True)
def mco_discovery_create(name: str, config: Config) -> DiscoveryMethod:
    """Create the discovery method named ``name``.

    Called by a client the first time it discovers. A missing method is an error shown to
    the user with the installed names and the closest match.
    """
