"""``mco describe-filter``: what a set of filter options means, in words.

Useful before running an action on "every node that...": the filters are parsed exactly
as any other command would (so mistakes are reported the same way, data-plugin
functions included), nothing is sent, and each option is explained on its own lines.
"""

from __future__ import annotations

import argparse
import json
import shlex

from mcollective.cli.application import Application
from mcollective.filters import Filter, describe

#: Option, its ``args`` attribute, and how one value becomes a filter.
_OPTIONS = (
    ("-W", "with_", lambda v: Filter.build(with_=[v])),
    ("-S", "compound", lambda v: Filter.build(compound=[v])),
    ("-F", "facts", lambda v: Filter.build(facts=[v])),
    ("-C", "classes", lambda v: Filter.build(classes=[v])),
    ("-A", "agents", lambda v: Filter.build(agents=[v])),
)


class DescribeFilter(Application):
    name = "describe-filter"
    description = "Display human readable interpretation of filters"
    usage = "mco describe-filter [-F FACT] [-C CLASS] [-I ID] [-A AGENT] [-W ...] [-S ...]"
    option_sections = ("filter",)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-j", "--json", action="store_true",
                            help="print the filter as it travels in a request (JSON)")

    def main(self, args: argparse.Namespace) -> int:
        from mcollective.data import check_data_functions

        flt = Filter.build(facts=args.facts, classes=args.classes, agents=args.agents,
                           identities=args.identities, compound=args.compound,
                           with_=args.with_)
        check_data_functions(flt.compound, self.plugins)
        if args.json:
            print(json.dumps(flt.to_dict(), indent=2), file=self.out.file)
            return 0
        p = self.out.print
        if flt.is_empty():
            p("No filter: every node matches.", markup=False)
            return 0
        for option, attr, build in _OPTIONS:
            for value in getattr(args, attr):
                p(f"{option} {shlex.quote(value)}", markup=False)
                for line in describe(build(value)):
                    p(f"    {line}", markup=False)
        if args.identities:
            p(" ".join(f"-I {shlex.quote(i)}" for i in args.identities), markup=False)
            for line in describe(Filter(identities=args.identities)):
                p(f"    {line}", markup=False)
        p()
        rule = "A node matches when it passes every line above"
        if len(args.identities) > 1:
            rule += " (one of the identities is enough)"
        p(rule + ".", markup=False)
        return 0
