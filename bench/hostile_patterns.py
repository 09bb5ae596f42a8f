"""Ping latency while hostile regular expressions flood the nodes (issue 11, item 2).

Two daemons on the embedded transport (or ``--url`` a broker). First the baseline: ping
broadcasts with no other traffic. Then the same pings while every catastrophic pattern of
:mod:`mcollective.testing.hostile_patterns` is sent in every filter position and as the
process agent's ``pattern``. Prints the worst and median time for every node to answer,
and the ratio to the baseline. The goal: every ping answered within 2 s under the flood.

Also prints what one catastrophic pattern costs each engine on a 22-character identity:
RE2 (what nodes use) against Python's backtracking ``re`` (stopped after 10 s).

    .venv/bin/python bench/hostile_patterns.py [--rounds 10] [--url amqp://...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mcollective import regex
from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.testing import LocalCollective
from mcollective.testing.hostile_patterns import (
    PATTERNS,
    check_answers_under_hostile_patterns,
    ping_round,
)

NODES = ("bench-hostile-alpha.example.net", "bench-hostile-bravo.example.net")
IDENTITY = "hostile-target-alpha.ex"


def engine_costs() -> None:
    pattern = PATTERNS[0]
    started = time.perf_counter()
    regex.compile(pattern).search(IDENTITY)
    re2_seconds = time.perf_counter() - started
    code = f"import re; re.compile({pattern!r}).search({IDENTITY!r})"
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code], timeout=10, check=False)
        python = f"{time.perf_counter() - started:.2f} s"
    except subprocess.TimeoutExpired:
        python = "> 10 s (stopped)"
    print(f"/{pattern}/ on a {len(IDENTITY)}-character identity: RE2 (compile and search) "
          f"{re2_seconds * 1e6:.0f} µs,"
          f" Python re {python}")


def summary(rounds: list[float | None]) -> str:
    done = [r for r in rounds if r is not None]
    lost = len(rounds) - len(done)
    if not done:
        return f"all {lost} rounds lost"
    return (f"median {statistics.median(done):.3f} s, worst {max(done):.3f} s"
            + (f", {lost} rounds lost" if lost else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--url", help="broker URL (default: the embedded transport)")
    args = parser.parse_args()
    engine_costs()
    with tempfile.TemporaryDirectory() as tmp:
        collective = LocalCollective(Path(tmp) / "c", connector_url=args.url,
                                     collectives=(f"bench_{uuid.uuid4().hex[:8]}",))
        try:
            for identity in NODES:
                collective.add_node(identity, facts={"hostile_fact": "x" * 40}, wait=False)
            for node in collective.nodes.values():
                collective.wait_ready(node)
            with ClientSession(load_config(collective.client_config)) as session:
                session.connect()
                ping_round(session, NODES, 20.0)  # warm-up
                baseline = [ping_round(session, NODES, 20.0)[0] for _ in range(args.rounds)]
                report = check_answers_under_hostile_patterns(
                    session, NODES, rounds=args.rounds, ping_timeout=20.0)
        finally:
            collective.stop_all()
    print(f"baseline ping ({args.rounds} rounds, {len(NODES)} nodes): {summary(baseline)}")
    print(f"under hostile patterns ({sum(report.sent.values())} requests): "
          f"{summary(report.rounds)}")
    base = [r for r in baseline if r is not None]
    hostile = [r for r in report.rounds if r is not None]
    if base and hostile:
        print(f"ratio of medians (hostile / baseline): "
              f"{statistics.median(hostile) / max(statistics.median(base), 1e-6):.1f}")
    ok = report.every_ping_answered_within(2.0)
    print("goal (every ping answered within 2 s under the flood):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
