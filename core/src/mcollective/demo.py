"""A small local collective, shown working: ``python -m mcollective.demo``.

Starts three real ``mcollectived`` daemons with different facts on the embedded default
transport (no broker), runs a few real ``mco`` commands against them, then stops them.
Everything happens in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from pathlib import Path

from mcollective.testing.collective import LocalCollective

NODES = {
    "web1.example.net": ({"country": "uk", "role": "web", "os": {"family": "Debian"},
                          "cpus": 4}, ["apache", "base"]),
    "web2.example.net": ({"country": "de", "role": "web", "os": {"family": "RedHat"},
                          "cpus": 8}, ["apache", "base"]),
    "db1.example.net": ({"country": "uk", "role": "db", "os": {"family": "Debian"},
                         "cpus": 16}, ["mysql", "base"]),
}

COMMANDS = [
    ("Which nodes are there?", ["ping"]),
    ("Which nodes are in the UK? (a fact filter)", ["find", "-F", "country=uk"]),
    ("Web servers with more than 4 CPUs (numeric comparison)",
     ["find", "-F", "role=web", "-F", "cpus>4"]),
    ("How are roles spread? (facts report)", ["facts", "role", "-v"]),
    ("Everything one node knows (RPC to a single node)",
     ["rpc", "rpcutil", "inventory", "-I", "db1.example.net"]),
    ("A fact from every Debian node (structured facts)",
     ["rpc", "rpcutil", "get_fact", "fact=os.family", "-F", "os.family=Debian"]),
]


def banner(text: str) -> None:
    print(f"\n\033[1m=== {text}\033[0m", flush=True)


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="mco-demo-") as tmp:
        collective = LocalCollective(Path(tmp))
        banner("Starting three mcollectived daemons on the embedded transport")
        started = time.monotonic()
        try:
            for identity, (facts, classes) in NODES.items():
                collective.add_node(identity, facts=facts, classes=classes, wait=False)
            for node in collective.nodes.values():
                collective.wait_ready(node)
                print(f"  {node.identity:<20} pid {node.pid}  facts: "
                      f"{NODES[node.identity][0]}", flush=True)
            print(f"  ready in {time.monotonic() - started:.1f}s", flush=True)
            for title, args in COMMANDS:
                banner(title)
                print(f"$ mco {shlex.join(args)}", flush=True)
                t0 = time.monotonic()
                proc = collective.mco(*args)
                sys.stdout.write(proc.stderr)  # the discovery line comes first
                sys.stdout.write(proc.stdout)
                print(f"  (exit code {proc.returncode}, {time.monotonic() - t0:.2f}s)",
                      flush=True)
                failures += proc.returncode != 0
        finally:
            banner("Stopping the daemons")
            for identity, code in collective.stop_all().items():
                print(f"  {identity:<20} stopped (exit code {code})", flush=True)
                failures += code != 0
    banner("Demo finished" + (f" with {failures} failure(s)" if failures else " successfully"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
