"""``mco nats``: the NATS side of a collective.

::

    mco nats accounts LAYOUT        # print nats-server's authorization block

The layout format is described in :mod:`mcollective.accounts` and
``docs/middleware.md``; what each account may do in
:mod:`mcollective_connector_nats.accounts`. Nothing here talks to the collective, so no
client configuration is needed.
"""

from __future__ import annotations

import argparse

from mcollective.cli.application import Application


class Nats(Application):
    name = "nats"
    description = "the NATS side of a collective: least-privilege users for a layout"
    option_sections = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        accounts = sub.add_parser(
            "accounts", help="print nats-server's authorization block (users with "
            "publish and subscribe permissions) for a collective layout")
        accounts.add_argument("layout", help="the layout (YAML)")
        accounts.add_argument("-c", "--config", metavar="FILE", help=argparse.SUPPRESS)
        accounts.add_argument("-v", "--verbose", action="store_true", help="tracebacks")

    def main(self, args: argparse.Namespace) -> int:
        from mcollective.accounts import load_layout
        from mcollective_connector_nats.accounts import authorization_block

        self.out.file.write(authorization_block(load_layout(args.layout)))
        return 0
