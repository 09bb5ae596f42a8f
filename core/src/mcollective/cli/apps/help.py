"""``mco help [COMMAND]``: what the commands do."""

from __future__ import annotations

import argparse

from mcollective.cli.application import Application
from mcollective.errors import PluginLoadError
from mcollective.plugins import installed_names


class Help(Application):
    name = "help"
    description = "Application list and help"
    option_sections = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("command", nargs="?", help="show this command's options")

    def run(self, argv: list[str]) -> int:
        # No configuration needed to print help.
        args = self.build_parser().parse_args(argv)
        if args.command:
            try:
                cls = self.plugins.application_class(args.command)
            except PluginLoadError as exc:
                self.err.print(f"mco help: {exc}", markup=False)
                return 1
            cls(self.plugins).build_parser().print_help()
            return 0
        self.out.print("The Marionette Collective, in Python\n")
        self.out.print("  Usage: mco [--version] [--help] COMMAND [options]\n")
        self.out.print("Known commands:\n")
        for name in installed_names("application"):
            try:
                description = self.plugins.application_class(name).description
            except PluginLoadError as exc:
                description = f"(broken: {exc.cause})"
            self.out.print(f"  {name:<20}{description}", markup=False)
        self.out.print("\nRun 'mco help COMMAND' for the options of a command.")
        return 0
