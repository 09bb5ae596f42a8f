"""Core's discovery methods, declared as entry points like third-party ones.

* ``mc``: broadcast a discovery request carrying the filter; adaptive wait.
* ``flatfile``: a node list in a file (text, JSON or YAML), ``--nodes FILE``.
* ``stdin``: a node list (or ``mco ... -j`` output) piped into ``mco``.
* ``inventory``: a file of nodes with their facts, classes, agents and collectives,
  evaluated locally with the whole filter language.
"""

from mcollective.discovery_methods.flatfile import FlatfileDiscovery
from mcollective.discovery_methods.inventory import InventoryDiscovery
from mcollective.discovery_methods.mc import MCDiscovery
from mcollective.discovery_methods.nodelist import parse_node_list
from mcollective.discovery_methods.stdin import StdinDiscovery, piped_stdin

__all__ = [
    "FlatfileDiscovery",
    "InventoryDiscovery",
    "MCDiscovery",
    "StdinDiscovery",
    "parse_node_list",
    "piped_stdin",
]
