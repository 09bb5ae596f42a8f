"""Entry point ``nats`` in group ``mcollective.connectors``.

Importing this module does nothing but define the hook: nats-py and asyncio are only
touched when mcollective asks for a connector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective import hookimpl

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.connector import Connector


@hookimpl
def mco_connector_create(name: str, config: Config) -> Connector:
    """Build the (not yet connected) NATS connector from ``plugin.<name>.*``."""
    from mcollective_connector_nats.connector import NatsConnector
    from mcollective_connector_nats.options import load_options

    return NatsConnector(load_options(name, config))
