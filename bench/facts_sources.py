"""Do slow facts sources delay requests? Facter against a plain YAML node.

Facter takes seconds per run and may hang; the ``facter`` source refreshes in the
background so that no request waits for it. Measured in one run, on the same machine:

1. **In process**: the time of ``Facts.get()`` (what every filter and inventory calls)
   for a static source (the baseline) and for the Facter source while a refresh is
   running all the time (``cache_time = 0``), in microseconds per call.
2. **Through real daemons and the real mco**: the wall time of ``mco rpc rpcutil
   get_fact fact=kernel -I NODE`` for a node with YAML facts only (the baseline), a node
   whose real Facter refreshes continuously (``plugin.facter.cache_time = 0``), and a
   node whose Facter hangs (a script sleeping, standing in for it); medians and ratios
   to the baseline, next to the wall time of one ``facter --json`` run.

Usage: ``python bench/facts_sources.py [--calls 20000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcollective.facts import Facts, FactsSource
from mcollective.facts_cache import CommandFactsSource
from mcollective.testing import LocalCollective


class Static(FactsSource):
    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts

    def get(self) -> dict[str, Any]:
        return self.facts


def per_call(facts: Facts, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        facts.get()
    return (time.perf_counter() - started) / calls * 1e6


def in_process(calls: int) -> None:
    facter = CommandFactsSource("facter", ["facter", "--json"], cache_time=0, timeout=120)
    facter.start()
    facter.wait_loaded(120)
    static = Static(dict(facter.get()))
    base = per_call(Facts([("yaml", static)]), calls)
    slow = per_call(Facts([("facter", facter)]), calls)
    refreshes = facter.describe()["refreshes"]
    print(f"Facts.get(), {calls} calls: static {base:.2f} µs, facter refreshing "
          f"{slow:.2f} µs (ratio {slow / base:.2f}; {refreshes} Facter runs so far)")


def timed(collective: LocalCollective, node: str) -> float:
    started = time.monotonic()
    proc = collective.mco("rpc", "rpcutil", "get_fact", "fact=kernel", "-I", node,
                          "--json-format", "mcollective")
    elapsed = time.monotonic() - started
    if proc.returncode != 0 or f'"{node}"' not in proc.stdout:
        raise RuntimeError(f"{node} did not answer: {proc.stdout} {proc.stderr}")
    return elapsed


def through_daemons(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hang = root / "facter-hangs"
        hang.write_text("#!/bin/sh\nsleep 3600\n")
        hang.chmod(0o755)
        with LocalCollective(root / "c") as collective:
            collective.add_node("yaml1", facts={"kernel": "Linux"})
            collective.add_node("facter1", settings={
                "factsource": "yaml, facter", "plugin.facter.cache_time": "0"})
            collective.add_node("hung1", settings={
                "factsource": "yaml, facter", "plugin.facter.command": str(hang),
                "plugin.facter.timeout": "3000"})
            started = time.monotonic()
            subprocess.run(["facter", "--json"], capture_output=True, check=False)
            facter_run = time.monotonic() - started
            times: dict[str, list[float]] = {n: [] for n in ("yaml1", "facter1", "hung1")}
            for _ in range(runs):
                for node in times:
                    times[node].append(timed(collective, node))
            base = statistics.median(times["yaml1"])
            print(f"one `facter --json` run: {facter_run:.2f} s")
            print(f"mco rpc rpcutil get_fact, median of {runs}:")
            for node, values in times.items():
                median = statistics.median(values)
                print(f"  {node:8} {median:.2f} s  ratio {median / base:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("facter") is None:
        print("facter is not installed (Debian package 'facter')", file=sys.stderr)
        return 1
    in_process(args.calls)
    through_daemons(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
