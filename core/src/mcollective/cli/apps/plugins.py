"""``mco plugins``: every installed plugin, its kind, distribution and version."""

from __future__ import annotations

import argparse

from rich.table import Table

from mcollective.cli import output
from mcollective.cli.application import Application
from mcollective.plugins import KINDS, installed_plugins


class Plugins(Application):
    name = "plugins"
    description = "List installed plugins: kind, name, distribution and version"
    option_sections = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--kind", choices=sorted(KINDS), help="only this kind")
        parser.add_argument("-j", "--json", action="store_true", help="JSON output")

    def run(self, argv: list[str]) -> int:
        # Listing what is installed needs no configuration and loads no plugin.
        args = self.build_parser().parse_args(argv)
        found = installed_plugins(args.kind)
        if args.json:
            output.dump_json(self.out, [
                {"kind": p.kind, "name": p.name, "distribution": p.distribution,
                 "version": p.version, "target": p.target} for p in found])
            return 0
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("KIND", "NAME", "DISTRIBUTION", "VERSION", "TARGET"):
            table.add_column(column)
        for p in found:
            table.add_row(p.kind, p.name, p.distribution, p.version,
                          p.target if args.verbose else p.target.split(":")[0])
        self.out.print(table)
        return 0
