"""How long ``mco find`` takes after the last discovery reply, against the window.

MCollective waited the whole discovery timeout (2 s by default) whatever happened; the
``mc`` method here ends ``discovery_window`` seconds after the last reply. This starts
N real daemons on the embedded filesystem transport, runs the real ``mco find`` several
times per window, and prints, per run:

* ``reply→done``: from the last discovery reply to the end of discovery (should be the
  window);
* ``reply→exit``: from the last discovery reply to the moment the ``mco`` process has
  exited (the window plus closing the connection and interpreter shutdown);

as medians, and their ratio to the configured window and to the classic fixed wait.
The last-reply time comes from the client's debug log (``discovery reply N from X``,
millisecond timestamps); the exit time is taken by this script when the process ends.

Usage: ``python bench/discovery_window.py [--nodes 10] [--runs 5] [--windows 0.1,0.3]``
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcollective.testing import LocalCollective

CLASSIC_WAIT = 2.0  # MCollective's default discovery timeout, always waited in full


def parse_stamp(line: str) -> float:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def one_run(collective: LocalCollective, config: Path, log: Path, window: float,
            expected: int) -> tuple[float, float, float]:
    log.write_text("")
    started = time.time()
    proc = collective.mco("find", "--discovery-window", str(window), config=config,
                          input="")
    exited = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"mco find failed: {proc.stderr}")
    found = len(proc.stdout.split())
    if found != expected:
        raise RuntimeError(f"found {found} nodes, expected {expected}")
    lines = log.read_text().splitlines()
    last_reply = max(parse_stamp(line) for line in lines if "discovery reply" in line)
    finished = max(parse_stamp(line) for line in lines if "discovery finished" in line)
    return finished - last_reply, exited - last_reply, exited - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--windows", default="0.1,0.3",
                        help="comma-separated discovery windows in seconds")
    opts = parser.parse_args()
    windows = [float(w) for w in opts.windows.split(",")]
    with tempfile.TemporaryDirectory(prefix="mco-bench-") as tmp:
        root = Path(tmp)
        collective = LocalCollective(root / "collective")
        print(f"starting {opts.nodes} daemons...", file=sys.stderr)
        for index in range(opts.nodes):
            collective.add_node(f"node{index:02d}.example.net", facts={"index": index},
                                wait=False)
        for node in collective.nodes.values():
            collective.wait_ready(node)
        log = root / "client.log"
        config = collective.write_client_config(
            "bench.cfg", logger_type="file", logfile=str(log), loglevel="debug")
        try:
            one_run(collective, config, log, windows[0], opts.nodes)  # warm caches
            print(f"{'window':>8} {'reply→done':>12} {'reply→exit':>12} {'total':>8} "
                  f"{'exit/window':>12} {'classic/ours':>13}")
            for window in windows:
                runs = [one_run(collective, config, log, window, opts.nodes)
                        for _ in range(opts.runs)]
                done = statistics.median(r[0] for r in runs)
                exit_ = statistics.median(r[1] for r in runs)
                total = statistics.median(r[2] for r in runs)
                print(f"{window:>7.2f}s {done:>11.3f}s {exit_:>11.3f}s {total:>7.2f}s "
                      f"{exit_ / window:>11.2f}x {CLASSIC_WAIT / done:>12.1f}x")
        finally:
            collective.stop_all()
    print(f"\n{opts.nodes} nodes, {opts.runs} runs per window, medians. 'classic/ours' "
          f"compares the end of discovery after the last reply with MCollective's fixed "
          f"{CLASSIC_WAIT:g}s wait.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
