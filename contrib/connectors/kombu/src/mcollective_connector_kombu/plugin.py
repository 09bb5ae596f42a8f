"""Entry point ``kombu`` in group ``mcollective.connectors``.

Importing this module does nothing but define the hook: kombu, the transports and the
configuration are only touched when mcollective asks for a connector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective import hookimpl

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.connector import Connector


@hookimpl
def mco_connector_create(name: str, config: Config) -> Connector:
    """Build the (not yet connected) kombu connector from ``plugin.<name>.*``."""
    from mcollective_connector_kombu import import_kombu

    import_kombu()  # first, without PyYAML
    from mcollective_connector_kombu.connector import KombuConnector
    from mcollective_connector_kombu.options import load_options

    return KombuConnector(load_options(name, config))
