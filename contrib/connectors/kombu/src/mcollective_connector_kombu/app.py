"""``mco broker``: least-privilege broker accounts for a collective layout.

::

    mco broker rabbitmq LAYOUT                 # print the rabbitmqctl set-up (a script)
    mco broker rabbitmq LAYOUT --apply http://admin:pw@rabbit:15672   # management API
    mco broker rabbitmq LAYOUT --definitions   # the durable exchanges as definitions
    mco broker redis LAYOUT                    # print the ACL SETUSER commands
    mco broker redis LAYOUT --apply redis://admin:pw@redis:6379/0     # apply them

The layout format is described in :mod:`mcollective.accounts` and
``docs/middleware.md``; what each account may do in :mod:`mcollective_connector_kombu.accounts`.
Nothing here talks to the collective, so no client configuration is needed.
"""

from __future__ import annotations

import argparse
import json

from mcollective.accounts import load_layout
from mcollective.cli.application import Application


class Broker(Application):
    name = "broker"
    description = "least-privilege broker accounts (RabbitMQ, Redis) for a collective layout"
    option_sections = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="broker", required=True, metavar="BROKER")
        rabbit = sub.add_parser("rabbitmq", help="vhost, users, permissions, topic "
                                "permissions and durable exchanges")
        rabbit.add_argument("layout", help="the layout (YAML)")
        how = rabbit.add_mutually_exclusive_group()
        how.add_argument("--apply", metavar="URL",
                         help="apply through the management API at URL "
                              "(http://user:password@host:15672)")
        how.add_argument("--definitions", action="store_true",
                         help="print only the exchanges, as RabbitMQ definitions (JSON)")
        redis = sub.add_parser("redis", help="ACL users with channel and key patterns")
        redis.add_argument("layout", help="the layout (YAML)")
        redis.add_argument("--apply", metavar="URL",
                           help="apply with ACL SETUSER at URL (an account allowed to)")
        for p in (rabbit, redis):
            p.add_argument("-c", "--config", metavar="FILE", help=argparse.SUPPRESS)
            p.add_argument("-v", "--verbose", action="store_true", help="tracebacks")

    def main(self, args: argparse.Namespace) -> int:
        layout = load_layout(args.layout)
        if args.broker == "rabbitmq":
            from mcollective_connector_kombu import accounts

            setup = accounts.rabbitmq_setup(layout)
            if args.apply:
                for line in accounts.apply_management(setup, args.apply):
                    self.out.print(f"applied: {line}", markup=False)
            elif args.definitions:
                self.out.print(json.dumps(accounts.definitions(setup), indent=1),
                               markup=False)
            else:
                self.out.file.write(accounts.rabbitmqctl_script(setup))
            return 0
        from mcollective_connector_kombu import redis_acl

        users = redis_acl.redis_setup(layout)
        if args.apply:
            for line in redis_acl.apply_acl(users, args.apply):
                self.out.print(f"applied: {line}", markup=False)
        else:
            self.out.file.write(redis_acl.acl_script(users))
        return 0
