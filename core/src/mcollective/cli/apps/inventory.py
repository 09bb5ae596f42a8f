"""``mco inventory IDENTITY``: everything one node knows about itself."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from mcollective.cli import output
from mcollective.cli.application import Application
from mcollective.errors import MCollectiveError


class Inventory(Application):
    name = "inventory"
    description = "General reporting tool for nodes, collectives and subcollectives"
    usage = "mco inventory [options] IDENTITY"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("identity", help="the node to report on")
        parser.add_argument("-j", "--json", action="store_true", help="JSON output")

    def main(self, args: argparse.Namespace) -> int:
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
