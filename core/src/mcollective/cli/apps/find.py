"""``mco find``: the identities of the nodes matching the filters.

Discovery only: nothing but the discovery request is sent. With the ``mc`` method the
command ends a short window after the last reply (``--discovery-window``); with a node
list (``--nodes``, a pipe, ``--dm inventory``) it prints the listed nodes that pass the
filter without touching the network.
"""

from __future__ import annotations

import argparse
import time

from mcollective.cli.application import Application


class Find(Application):
    name = "find"
    description = "Find hosts matching criteria"

    def main(self, args: argparse.Namespace) -> int:
        client = self.rpcclient("rpcutil")
        started = time.monotonic()
        nodes = client.discover()
        if args.verbose:
            self.err.print(f"Discovered {len(nodes)} nodes in "
                           f"{time.monotonic() - started:.2f} seconds using the "
                           f"{client.discovery_method} discovery plugin", markup=False)
        for node in nodes:
            self.out.print(node, markup=False, highlight=False)
        return 0 if nodes else 1
