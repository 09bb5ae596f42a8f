"""Connector plugins: how messages reach the middleware.

Entry-point group ``mcollective.connectors``; chosen by the ``connector`` config key
(default ``kombu``). A connector is required: if it is missing or fails to load, the
daemon and the client refuse to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.connector import Connector


@hookspec(firstresult=True)
def mco_connector_create(name: str, config: Config) -> Connector:
    """Create the connector named ``name`` for this process.

    Called once at start-up (and again after a configuration reload) by the daemon and
    by every client, before anything is published. The returned object is not yet
    connected; the caller calls :meth:`Connector.connect`.

    :param name: the entry-point name the plugin was loaded under (``connector`` key).
    :param config: the loaded configuration; read ``config.plugin_config(name, schema)``
        for the plugin's own ``plugin.<name>.*`` keys so that bad values are reported
        with file and line.

    Only the plugin loaded under ``name`` is asked. Raising
    :class:`mcollective.errors.ConfigError` reports a configuration mistake; any other
    exception is reported as a broken plugin. Either way start-up fails.
    """
