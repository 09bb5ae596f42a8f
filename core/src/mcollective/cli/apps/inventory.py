"""``mco inventory``: what nodes know about themselves, and collective membership.

* ``mco inventory IDENTITY``: one node's counters, agents, data plugins, classes, facts;
* ``mco inventory --list-collectives`` (``--lc``): nodes per collective;
* ``mco inventory --collective-graph FILE``: the same as a Graphviz DOT graph;
* ``mco inventory --script FILE [filters]``: one line per node from a report script
  (see :mod:`mcollective.cli.inventory_script`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from mcollective.cli import output
from mcollective.cli.application import Application
from mcollective.errors import MCollectiveError


class Inventory(Application):
    name = "inventory"
    description = "General reporting tool for nodes, collectives and subcollectives"
    usage = ("mco inventory [options] IDENTITY\n"
             "       mco inventory --list-collectives [filters]\n"
             "       mco inventory --script FILE [filters]")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("identity", nargs="?", help="the node to report on")
        parser.add_argument("-j", "--json", action="store_true", help="JSON output")
        parser.add_argument("--list-collectives", "--lc", dest="list_collectives",
                            action="store_true", help="nodes per collective")
        parser.add_argument("--collective-graph", "--cg", "--map", dest="graph",
                            metavar="FILE", help="write collective membership as DOT")
        parser.add_argument("--script", metavar="FILE",
                            help="print one line per node as the Python script FILE says")

    def main(self, args: argparse.Namespace) -> int:
        if args.list_collectives or args.graph:
            return self.collectives(args)
        if args.script:
            return self.script(args)
        if not args.identity:
            raise MCollectiveError("name a node (mco inventory IDENTITY), or use "
                                   "--list-collectives or --script FILE")
        return self.one_node(args)

    # --- one node -----------------------------------------------------------------------

    def one_node(self, args: argparse.Namespace) -> int:
        client = self.rpcclient("rpcutil")
        client.identity_filter(args.identity)
        stats = {r.sender: r for r in client.call("daemon_stats")}
        inventory = {r.sender: r for r in client.call("inventory")}
        if not inventory:
            raise MCollectiveError(f"no reply from {args.identity}")
        code = 0
        merged = []
        for node in sorted(inventory):
            inv, st = inventory[node], stats.get(node)
            if not inv.ok:
                self.err.print(f"{node}: {inv.statusmsg}", markup=False)
                code = 2
                continue
            merged.append({"sender": node, "inventory": inv.data,
                           "stats": st.data if st is not None and st.ok else None})
        if args.json:
            output.dump_json(self.out, merged)
            return code
        for item in merged:
            self.render(item["sender"], item["inventory"], item["stats"])
        return code

    def render(self, node: str, inv: dict[str, Any], stats: dict[str, Any] | None) -> None:
        p = self.out.print
        p(f"Inventory for {node}:\n", markup=False)
        if stats:
            started = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(stats["starttime"]))
            times = stats.get("times") or {}
            p("   Server Statistics:")
            for label, value in (
                ("Version", stats.get("version")), ("Start Time", started),
                ("Config File", stats.get("configfile") or "(defaults)"),
                ("Collectives", ", ".join(inv.get("collectives", []))),
                ("Main Collective", inv.get("main_collective")), ("Process ID", stats["pid"]),
                ("Total Messages", stats["total"]), ("Messages Passed", stats["passed"]),
                ("Messages Filtered", stats["filtered"]),
                ("Expired Messages", stats["ttlexpired"]), ("Replies Sent", stats["replies"]),
                ("Total Processor Time", f"{times.get('utime', 0):.2f} seconds"),
                ("System Time", f"{times.get('stime', 0):.2f} seconds"),
            ):
                p(f"      {label + ':':<24}{value}", markup=False)
            p()
        for title, names in (("Agents", inv.get("agents", [])),
                             ("Data Plugins", inv.get("data_plugins", [])),
                             ("Configuration Management Classes", inv.get("classes", []))):
            p(f"   {title}:", markup=False)
            if names:
                for line in output.columns(sorted(names), width=84):
                    p("      " + line, markup=False)
            else:
                p("      No " + title.lower() + " found", markup=False)
            p()
        p("   Facts:")
        for key, value in sorted(flatten(inv.get("facts", {})).items()):
            p(f"      {key} => {value}", markup=False)
        p()

    # --- collectives --------------------------------------------------------------------

    def collectives(self, args: argparse.Namespace) -> int:
        """``--list-collectives`` and ``--collective-graph`` from ``collective_info``."""
        client = self.rpcclient("rpcutil")
        members: dict[str, list[str]] = defaultdict(list)
        nodes = set()
        for result in client.call("collective_info"):
            if not result.ok:
                continue
            nodes.add(result.sender)
            for collective in result.data.get("collectives") or []:
                members[str(collective)].append(result.sender)
        if args.graph:
            Path(args.graph).write_text(collective_graph(members), encoding="utf-8")
            if not args.list_collectives:
                self.out.print(f"Graph of {len(nodes)} nodes written to {args.graph}",
                               markup=False)
        if args.list_collectives:
            if args.json:
                output.dump_json(self.out, {
                    "collectives": {c: len(n) for c, n in sorted(members.items())},
                    "total": len(nodes)})
            else:
                self.print_collectives(members, len(nodes))
        return client.stats.exit_code()

    def print_collectives(self, members: dict[str, list[str]], total: int) -> None:
        p = self.out.print
        width = max([30, *(len(c) + 2 for c in members)])
        p(f"   {'Collective'.ljust(width)} Nodes", markup=False)
        p(f"   {'=========='.ljust(width)} =====", markup=False)
        for collective in sorted(members):
            p(f"   {collective.ljust(width)} {len(members[collective])}", markup=False)
        p()
        p(f"   {'Total nodes:'.rjust(width)} {total}", markup=False)

    # --- scripts ------------------------------------------------------------------------

    def script(self, args: argparse.Namespace) -> int:
        from mcollective.cli.inventory_script import InventoryNode, InventoryScript

        report = InventoryScript.load(args.script)  # before anything is sent
        client = self.rpcclient("rpcutil")
        if args.identity:
            client.identity_filter(args.identity)
        results = sorted(client.call("inventory"), key=lambda r: r.sender)
        # Written as is: the console would expand the TABs that MCollective's report
        # formats ("%s:\t\t%s") use to make columns for cut and awk.
        if report.heading is not None:
            self.out.file.write(report.heading + "\n")
        for result in results:
            if not result.ok:
                self.err.print(f"{result.sender}: {result.statusmsg}", markup=False)
                continue
            node = InventoryNode.from_reply(result.sender, result.data)
            self.out.file.write(report.render(node) + "\n")
        return client.stats.exit_code()


def collective_graph(members: dict[str, list[str]]) -> str:
    """Collective membership as a Graphviz graph: a box per collective, an edge to each
    member node."""
    lines = ["graph collectives {", "  node [shape=ellipse];"]
    for collective in sorted(members):
        lines.append(f"  {json.dumps(collective)} [shape=box];")
        for node in sorted(members[collective]):
            lines.append(f"  {json.dumps(collective)} -- {json.dumps(node)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def flatten(facts: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Structured facts as dotted keys, so nested values are readable in a list."""
    out: dict[str, str] = {}
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        elif isinstance(value, list | dict):
            out[name] = json.dumps(value)
        else:
            out[name] = output.format_value(value)
    return out
