"""Core's discovery methods, declared as entry points like third-party ones.

* ``mc``: broadcast a discovery request carrying the filter; adaptive wait.
* ``flatfile``: a node list in a file (text, JSON or YAML), ``--nodes FILE``.
* ``stdin``: a node list (or ``mco ... -j`` output) piped into ``mco``.
* ``inventory``: a file of nodes with their facts, classes, agents and collectives,
  evaluated locally with the whole filter language.

Names are imported on first use (PEP 562): ``mco rpc`` with the ``mc`` method must not
pay for YAML and the whole filter language, which only the list methods need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcollective.discovery_methods.flatfile import FlatfileDiscovery
    from mcollective.discovery_methods.inventory import InventoryDiscovery
    from mcollective.discovery_methods.mc import MCDiscovery
    from mcollective.discovery_methods.nodelist import parse_node_list
    from mcollective.discovery_methods.stdin import StdinDiscovery, piped_stdin

_WHERE = {
    "FlatfileDiscovery": "flatfile",
    "InventoryDiscovery": "inventory",
    "MCDiscovery": "mc",
    "parse_node_list": "nodelist",
    "StdinDiscovery": "stdin",
    "piped_stdin": "stdin",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "FlatfileDiscovery",
    "InventoryDiscovery",
    "MCDiscovery",
    "StdinDiscovery",
    "parse_node_list",
    "piped_stdin",
]
