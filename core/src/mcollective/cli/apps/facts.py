"""``mco facts FACT``: how the value of a fact is spread across the nodes."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from mcollective.cli import output
from mcollective.cli.application import Application


class Facts(Application):
    name = "facts"
    description = "Reports on usage for a specific fact"
    usage = "mco facts [options] [filters] FACT"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("fact", help="the fact to report on (dotted paths walk "
                                         "structured facts)")
        parser.add_argument("-j", "--json", action="store_true", help="JSON output")

    def main(self, args: argparse.Namespace) -> int:
        client = self.rpcclient("rpcutil")
        results = client.call("get_fact", fact=args.fact)
        by_value: dict[str, list[str]] = defaultdict(list)
        unset: list[str] = []
        for result in results:
            if result.ok:
                value = result.data.get("value")
                if value is None:
                    # rpcutil answers null for a fact the node does not have.
                    unset.append(result.sender)
                    continue
                key = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
                by_value[key].append(result.sender)
        if args.json:
            report = {k: sorted(v) for k, v in sorted(by_value.items())}
            if unset:
                report["null"] = sorted(unset)  # as before: scripts may rely on the key
            output.dump_json(self.out, report)
            return client.stats.exit_code()
        if not by_value:
            if unset:
                self.out.print(f"Fact '{args.fact}' is not set on any of the {len(unset)} "
                               "node(s) that answered", markup=False)
            else:
                self.out.print(f"No values found for fact {args.fact}", markup=False)
        else:
            self.out.print(f"Report for fact: {args.fact}\n", markup=False)
            width = max(len(v) for v in by_value)
            for value in sorted(by_value):
                nodes = sorted(by_value[value])
                self.out.print(f"        {value.ljust(width)}  found {len(nodes)} times",
                               markup=False)
                if args.verbose:
                    self.out.print()
                    for node in nodes:
                        self.out.print(f"            {node}", markup=False)
                    self.out.print()
            if unset:
                self.out.print(f"\n        not set on {len(unset)} node(s)"
                               + (": " + ", ".join(sorted(unset)) if args.verbose else ""),
                               markup=False)
        self.out.print()
        output.print_summary(self.out, client.stats, verbose=args.verbose,
                             caption="rpcutil#get_fact call stats")
        return client.stats.exit_code()
