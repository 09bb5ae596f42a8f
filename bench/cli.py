"""The ``mco`` commands an operator types all day, timed whole, on N real daemons.

Starts N real ``mcollectived`` processes (:class:`mcollective.testing.LocalCollective`,
not the emulator) on each transport, then times the real ``mco`` console script, from
spawn to exit, for::

    mco rpc rpcutil ping        mco ping        mco rpc shell run command=true

(median of ``--runs``, after one warm-up run that is not counted), and the same commands
again through ``bench/_mco_phased.py`` (``mco`` with :mod:`mcollective.phases` marks on)
to say where the time goes:

========================  ============================================================
interpreter start         spawn until the first line of Python runs
imports                   every module import, wherever it happens (own column)
CLI set-up                plugins, argparse, configuration, security, DDL (no imports)
connect                   broker connections, reply queue, consumer
discovery                 discovery request published until its last reply
discovery idle            after the last discovery reply until discovery ends
rpc                       request published until its last reply (``mco ping``: its
                          only round)
output                    printing the results and summaries
close                     closing the session (and anything else before ``exit``)
teardown                  from the ``exit`` mark until the process has gone
========================  ============================================================

``first byte`` is spawn until the first request was published.

With Salt installed in a separate virtualenv (``--salt-venv``, default
``$MCO_BENCH_SALT_VENV`` or ``/tmp/salt-venv``; ``pip install salt==3008.4``), the
same run also starts a ``salt-master`` and N ``salt-minion`` processes and prints the
ratio to ``salt '*' test.ping`` (median of the same number of runs); without it the
column is left out. Finally the idle CPU of the N daemons (user + system, all their
threads) over ``--idle`` seconds, as a percentage of one core, for the largest N.

The load averages are printed before and after each block: other work on the machine
moves every figure here.

Before timing anything the benchmark compiles every module on ``sys.path`` to bytecode
(``compileall``), as ``pip install`` does: in an editable checkout under
``PYTHONDONTWRITEBYTECODE=1`` (tox's environments set it until 2026-12) every ``mco``
would otherwise compile the project's own modules from source at each start, about
150 ms that no installed system pays.

Usage::

    python bench/cli.py                                       # amqp,filesystem; N=10,100
    python bench/cli.py --transports filesystem --nodes 10 --runs 7 --idle 0
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from mcollective.testing import LocalCollective
from mcollective.testing.collective import _script

HERE = Path(__file__).resolve().parent
AMQP_URL = os.environ.get("MCO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

COMMANDS: dict[str, list[str]] = {
    "rpc rpcutil ping": ["rpc", "rpcutil", "ping"],
    "ping": ["ping"],
    "rpc shell run": ["rpc", "shell", "run", "command=true"],
}

#: Phase of the interval that ends at each mark (see the module docstring).
ENDS = {
    "main": "CLI set-up", "app": "CLI set-up", "setup_done": "CLI set-up",
    "connect": "CLI set-up", "connected": "connect",
    "discovery_publish": "discovery", "discovery_reply": "discovery",
    "discovery_end": "discovery idle",
    "rpc_publish": "rpc", "rpc_reply": "rpc", "rpc_end": "rpc",
    "output": "output", "close": "output", "closed": "close", "exit": "close",
}
PHASES = ["interpreter start", "imports", "CLI set-up", "connect", "discovery",
          "discovery idle", "rpc", "output", "close", "teardown"]


def compile_bytecode() -> float:
    """Compile every module on ``sys.path`` (what ``pip install`` does for a wheel);
    seconds spent. Already compiled, up-to-date files are skipped."""
    began = time.monotonic()
    dirs = [p for p in sys.path if p and Path(p).is_dir() and Path(p).resolve() != HERE]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.monotonic() - began


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def transport_url(name: str, root: Path) -> str | None:
    if name == "amqp":
        return AMQP_URL
    if name == "filesystem":
        return None  # LocalCollective's default: the embedded broker in root/broker
    raise SystemExit(f"unknown transport {name!r} (amqp, filesystem)")


def start_collective(transport: str, nodes: int, root: Path) -> LocalCollective:
    collective = f"bench{uuid.uuid4().hex[:8]}"  # isolated on a shared broker
    lc = LocalCollective(root, collectives=(collective,),
                         connector_url=transport_url(transport, root),
                         extra_config={"loglevel": "warn"})
    lc.client_config = lc.write_client_config(loglevel="warn")
    started = time.monotonic()
    for i in range(nodes):
        lc.add_node(f"node{i:03d}", facts={"index": i}, wait=False,
                    settings={"loglevel": "warn"})
    for node in lc.nodes.values():
        lc.wait_ready(node, timeout=300)
    print(f"  started {nodes} daemons in {time.monotonic() - started:.1f} s", flush=True)
    return lc


def answered(command: str, stdout: str) -> int:
    """How many nodes answered, from the command's own summary."""
    if command == "ping":
        for line in stdout.splitlines():
            if " replies max:" in line:
                return int(line.split()[0])
        return 0
    for line in stdout.splitlines():
        if "Finished processing" in line:
            return int(line.split("Finished processing")[1].split("/")[0])
    return 0


def run_mco(lc: LocalCollective, argv: list[str], *, phased: Path | None = None
            ) -> tuple[float, dict[str, float] | None, subprocess.CompletedProcess[str]]:
    env = lc.env()
    if phased is not None:
        env["MCO_PHASES"] = str(phased)
        cmd = [sys.executable, str(HERE / "_mco_phased.py")]
    else:
        cmd = _script("mco")
    cmd = [*cmd, argv[0], "-c", str(lc.client_config), *argv[1:]]
    spawned = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    gone = time.time()
    phases = breakdown(phased, spawned, gone) if phased is not None else None
    return gone - spawned, phases, proc


def breakdown(path: Path, spawned: float, gone: float) -> dict[str, float]:
    marks = [json.loads(line) for line in path.read_text().splitlines()]
    out = dict.fromkeys(PHASES, 0.0)
    ready = marks[0]
    out["interpreter start"] = ready["time"] - spawned
    for before, after in itertools.pairwise(marks):
        imported = after["imports"] - before["imports"]
        out["imports"] += imported
        phase = ENDS.get(after["mark"], "CLI set-up")
        out[phase] += max(0.0, after["time"] - before["time"] - imported)
    out["teardown"] = gone - marks[-1]["time"]
    first = [m["time"] for m in marks if m["mark"] in ("discovery_publish", "rpc_publish")]
    out["first byte"] = (min(first) - spawned) if first else float("nan")
    out["total"] = gone - spawned
    return out


def time_command(lc: LocalCollective, name: str, runs: int, nodes: int,
                 scratch: Path) -> dict[str, Any]:
    argv = COMMANDS[name]
    warm = run_mco(lc, argv)[2]  # not counted: caches, page cache, the broker's queues
    if warm.returncode != 0:
        raise RuntimeError(f"mco {name} failed:\n{warm.stdout}\n{warm.stderr}")
    walls, lost = [], 0
    for _ in range(runs):
        wall, _, proc = run_mco(lc, argv)
        walls.append(wall)
        lost += nodes - answered(name, proc.stdout)
    phased: list[dict[str, float]] = []
    for i in range(runs):
        path = scratch / f"phases-{i}.jsonl"
        _, phases, proc = run_mco(lc, argv, phased=path)
        assert phases is not None
        phased.append(phases)
        lost += nodes - answered(name, proc.stdout)
    median = {key: statistics.median(p[key] for p in phased) for key in phased[0]}
    return {"wall": statistics.median(walls), "min": min(walls), "max": max(walls),
            "lost": lost, "phases": median}


def idle_cpu(lc: LocalCollective, seconds: float) -> float:
    """CPU of every daemon over ``seconds``, as a fraction of one core."""
    import psutil

    procs = [psutil.Process(node.pid) for node in lc.nodes.values()]

    def total() -> float:
        spent = 0.0
        for p in procs:
            t = p.cpu_times()
            spent += t.user + t.system
        return spent

    time.sleep(5)  # let the last command's traffic settle
    before, began = total(), time.monotonic()
    time.sleep(seconds)
    return (total() - before) / (time.monotonic() - began)


# --- Salt ---------------------------------------------------------------------------


class SaltFleet:
    """A salt-master and N salt-minions as this user, under one directory."""

    def __init__(self, venv: Path, root: Path, nodes: int) -> None:
        self.bin = venv / "bin"
        self.root = root
        self.nodes = nodes
        self.procs: list[subprocess.Popen[bytes]] = []
        port = 14505 + (os.getpid() % 500) * 2
        self.ports = (port, port + 1)

    def _config(self, name: str, extra: dict[str, Any]) -> Path:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        settings = {"root_dir": str(directory), "user": os.environ.get("USER", "root"),
                    "publish_port": self.ports[0], "ret_port": self.ports[1],
                    "log_level": "warning", "sock_dir": str(directory / "sock"),
                    "pki_dir": str(directory / "pki"), "cachedir": str(directory / "cache"),
                    "pidfile": str(directory / "salt.pid"),
                    "log_file": str(directory / "salt.log"), **extra}
        path = directory / ("master" if name == "master" else "minion")
        path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
        return directory

    def start(self) -> None:
        master = self._config("master", {"interface": "127.0.0.1", "auto_accept": True,
                                         "worker_threads": 2})
        self.master_dir = master
        self.procs.append(subprocess.Popen([str(self.bin / "salt-master"), "-c", str(master)],
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        for i in range(self.nodes):
            d = self._config(f"minion{i:03d}", {"master": "127.0.0.1", "id": f"m{i:03d}",
                                                 "master_port": self.ports[1]})
            self.procs.append(subprocess.Popen([str(self.bin / "salt-minion"), "-c", str(d)],
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.ping()[1] == self.nodes:
                return
            time.sleep(2)
        raise RuntimeError("salt minions did not all answer within 300 s")

    def ping(self) -> tuple[float, int]:
        began = time.time()
        proc = subprocess.run([str(self.bin / "salt"), "-c", str(self.master_dir), "*",
                               "test.ping", "--out=json", "--static"], capture_output=True,
                              text=True, timeout=120, check=False)
        wall = time.time() - began
        try:
            return wall, sum(1 for v in json.loads(proc.stdout or "{}").values() if v is True)
        except ValueError:
            return wall, 0

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def salt_median(venv: Path, nodes: int, runs: int, root: Path) -> tuple[float, float] | None:
    """Median ``salt '*' test.ping`` and the idle CPU of the minions (fraction of a core),
    or None without Salt."""
    if not (venv / "bin" / "salt-master").exists():
        return None
    fleet = SaltFleet(venv, root, nodes)
    try:
        fleet.start()
        fleet.ping()
        walls = [fleet.ping()[0] for _ in range(runs)]
        return statistics.median(walls), 0.0
    finally:
        fleet.stop()


# --- report -------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transports", default="amqp,filesystem")
    parser.add_argument("--nodes", default="10,100")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds of idle CPU measurement at the largest N (0: skip)")
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--salt-venv", type=Path, default=Path(
        os.environ.get("MCO_BENCH_SALT_VENV", "/tmp/salt-venv")))
    parser.add_argument("--no-salt", action="store_true")
    parser.add_argument("--salt-max", type=int, default=100,
                        help="largest N to start Salt minions for")
    parser.add_argument("--salt-known", default="",
                        help="N=seconds,... Salt medians measured earlier in this session "
                             "(printed as such), instead of starting minions again")
    args = parser.parse_args()
    sizes = [int(n) for n in args.nodes.split(",")]
    commands = [c.strip() for c in args.commands.split(",")]
    salt_ok = not args.no_salt and (args.salt_venv / "bin" / "salt-master").exists()
    print(f"# bench/cli.py  python {sys.version.split()[0]}  cores {os.cpu_count()}  "
          f"runs {args.runs}  load {loadavg()}")
    if not salt_ok:
        print(f"# Salt not found in {args.salt_venv}: no Salt column")
    print(f"# bytecode compiled in {compile_bytecode():.1f} s (as pip install does)",
          flush=True)
    salt: dict[int, float] = {}
    for item in filter(None, args.salt_known.split(",")):
        n_text, _, seconds = item.partition("=")
        salt[int(n_text)] = float(seconds)
        print(f"# Salt median at N={n_text} given: {float(seconds) * 1000:.0f} ms")
    rows: list[tuple[str, int, str, dict[str, Any]]] = []
    idle: list[tuple[str, int, float]] = []
    for transport in args.transports.split(","):
        for n in sizes:
            print(f"## {transport} N={n}  load {loadavg()}", flush=True)
            with tempfile.TemporaryDirectory(prefix="mco-bench-cli-") as tmp:
                lc = start_collective(transport, n, Path(tmp) / "collective")
                try:
                    for name in commands:
                        r = time_command(lc, name, args.runs, n, Path(tmp))
                        rows.append((transport, n, name, r))
                        print(f"  mco {name:<18} median {r['wall'] * 1000:7.0f} ms  "
                              f"(min {r['min'] * 1000:.0f}, max {r['max'] * 1000:.0f}) "
                              f"lost {r['lost']}", flush=True)
                        print("    phases ms: " + ", ".join(
                            f"{k} {v * 1000:.0f}" for k, v in r["phases"].items()),
                            flush=True)
                    if args.idle and n == max(sizes):
                        cpu = idle_cpu(lc, args.idle)
                        idle.append((transport, n, cpu))
                        print(f"  idle CPU of {n} daemons over {args.idle:g} s: "
                              f"{cpu * 100:.1f}% of one core", flush=True)
                finally:
                    lc.stop_all()
            if salt_ok and n not in salt and n <= args.salt_max:
                with tempfile.TemporaryDirectory(prefix="mco-bench-salt-") as tmp:
                    try:
                        found = salt_median(args.salt_venv, n, args.runs, Path(tmp))
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        print(f"  salt with {n} minions failed: {exc}", flush=True)
                        found = None
                if found is not None:
                    salt[n] = found[0]
                    print(f"  salt '*' test.ping ({n} minions) median "
                          f"{salt[n] * 1000:.0f} ms", flush=True)
    print(f"\n# load after: {loadavg()}\n")
    head = ["transport", "N", "command", "median ms", "lost", "first byte", *PHASES]
    if salt:
        head.append("÷ salt")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for transport, n, name, r in rows:
        p = r["phases"]
        cells = [transport, str(n), f"mco {name}", f"{r['wall'] * 1000:.0f}", str(r["lost"]),
                 f"{p['first byte'] * 1000:.0f}", *(f"{p[k] * 1000:.0f}" for k in PHASES)]
        if salt:
            cells.append(f"{r['wall'] / salt[n]:.2f}" if n in salt else "-")
        print("| " + " | ".join(cells) + " |")
    if idle:
        print()
        for transport, n, cpu in idle:
            print(f"idle: {transport} {n} daemons: {cpu * 100:.1f}% of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
