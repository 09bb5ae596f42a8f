"""Web console benchmark: the replies of N emulated nodes streamed to a real browser,
and the console's overhead over the CLI and the client API for the same request.

One run, one collective (N nodes in ``--procs`` ``mcollectived --emulate`` processes on
RabbitMQ, or on the embedded filesystem broker with ``--transport filesystem``), one
``mco web``; each way of asking ``rpcutil ping`` of every node (discovery included)
is timed ``--rounds`` times after a warm-up:

* **client API**: ``RPCClient("rpcutil").call("ping")`` in this process over one
  connected session, as the console's (the baseline);
* **CLI**: ``mco rpc rpcutil ping -j`` as a user runs it (Python start-up included);
* **REST**: ``POST /api/v1/rpc``, every reply in one JSON answer;
* **SSE**: ``POST /api/v1/rpc/jobs`` and the job's event stream to its end;
* **browser**: Debian's Chromium (Playwright) on the generated ``rpcutil#ping`` form:
  click *Run* to the page showing every reply in its table (``--no-browser`` skips it).

Every round must bring every node's reply (``lost`` counts the missing ones; the
browser's are counted as table rows). Printed: median and p90 per way, and the ratios
to the client API and to the CLI. Only ratios within one run mean anything.

Usage::

    python bench/web_console.py                       # RabbitMQ, 1000 nodes, 5 rounds
    python bench/web_console.py --transport filesystem --nodes 200
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

AMQP = os.environ.get("MCO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PASSWORD = "bench-password-1"


def script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def start(collective: Any, nodes: int, procs: int) -> list[subprocess.Popen[bytes]]:
    per = nodes // procs
    started = []
    for k in range(procs):
        node = collective.add_node(f"emu{k}", facts={"site": "bench"}, start=False)
        node.process = subprocess.Popen(
            [script("mcollectived"), "-c", str(node.config), "--pidfile", str(node.pidfile),
             "--emulate", str(per), "--emulate-offset", str(k * per)],
            env=collective.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(node.process)
    for node in collective.nodes.values():
        collective.wait_ready(node, timeout=300)
    return started


def timed(rounds: int, expected: int, fn: Callable[[], int]) -> dict[str, Any]:
    times, lost = [], 0
    for _ in range(rounds + 1):  # the first round warms up and is not counted
        began = time.perf_counter()
        got = fn()
        elapsed = time.perf_counter() - began
        times.append(elapsed)
        lost += max(0, expected - got)
    times = times[1:]
    ordered = sorted(times)
    return {"median": statistics.median(times),
            "p90": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))],
            "lost": lost}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=["amqp", "filesystem"], default="amqp")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    import httpx

    from mcollective.client import ClientSession, RPCClient
    from mcollective.config import load_config
    from mcollective.testing import LocalCollective
    from mcollective.testing.brokers import free_port

    root = Path(tempfile.mkdtemp(prefix="mco-bench-web-"))
    name = f"benchweb{uuid.uuid4().hex[:8]}"
    url = AMQP if args.transport == "amqp" else None
    collective = LocalCollective(root / "collective", connector_url=url, collectives=(name,))
    console: subprocess.Popen[bytes] | None = None
    results: dict[str, dict[str, Any]] = {}
    try:
        start(collective, args.nodes, args.procs)
        config = collective.write_client_config(
            "bench.cfg", **{"plugin.web.max_running_per_user": 8})
        env = collective.env()
        users = root / "users.yaml"
        subprocess.run([script("mco"), "web", "useradd", "bench", "-c", str(config),
                        "--users", str(users), "--password-stdin"], input=PASSWORD + "\n",
                       text=True, env=env, check=True, capture_output=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        console = subprocess.Popen(
            [script("mco"), "web", "-c", str(config), "--listen", f"127.0.0.1:{port}",
             "--users", str(users), "--state", str(root / "web")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = httpx.post(f"{base}/api/v1/login", json={
            "username": "bench", "password": PASSWORD}).json()["token"]
        api = httpx.Client(base_url=base, timeout=300,
                           headers={"Authorization": f"Bearer {token}"})
        n = args.nodes

        os.environ["XDG_STATE_HOME"] = env["XDG_STATE_HOME"]
        cfg = load_config(config, role="client")

        session = ClientSession(cfg)  # connected once, as the console's is

        def client_api() -> int:
            return len(RPCClient("rpcutil", session=session).call("ping"))

        def cli() -> int:
            out = subprocess.run([script("mco"), "rpc", "rpcutil", "ping",
                                  "--json-format", "mcollective", "-c",
                                  str(config)], env=env, capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL, check=False).stdout
            return len(json.loads(out or "[]"))

        def rest() -> int:
            return len(api.post("/api/v1/rpc", json={"agent": "rpcutil",
                                                     "action": "ping"}).json()["results"])

        def sse() -> int:
            job = api.post("/api/v1/rpc/jobs", json={"agent": "rpcutil", "action": "ping"})
            count = 0
            with api.stream("GET", f"/api/v1/jobs/{job.json()['id']}/events") as stream:
                event = None
                for line in stream.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "results":
                        count += len(json.loads(line[5:]))
                    elif event == "end":
                        break
            return count

        results["client API"] = timed(args.rounds, n, client_api)
        results["CLI (mco rpc -j)"] = timed(args.rounds, n, cli)
        results["REST (POST /rpc)"] = timed(args.rounds, n, rest)
        results["SSE (job events)"] = timed(args.rounds, n, sse)
        if not args.no_browser:
            results["browser (Chromium)"] = browser_rounds(base, args.rounds, n)
        session.close()
    finally:
        if console is not None:
            console.send_signal(signal.SIGTERM)
            console.wait(30)
        collective.stop_all()

    print(f"\nrpcutil ping to {args.nodes} emulated nodes on {args.transport}, "
          f"discovery included, {args.rounds} rounds after a warm-up\n")
    api_median = results["client API"]["median"]
    cli_median = results["CLI (mco rpc -j)"]["median"]
    print(f"{'way':22} {'median ms':>10} {'p90 ms':>8} {'lost':>5} {'/ client API':>13} "
          f"{'/ CLI':>7}")
    for way, r in results.items():
        print(f"{way:22} {r['median'] * 1000:10.0f} {r['p90'] * 1000:8.0f} {r['lost']:5d} "
              f"{r['median'] / api_median:13.2f} {r['median'] / cli_median:7.2f}")
    for way, r in results.items():
        if "first_row" in r:
            print(f"\n{way}: first reply on the page after {r['first_row'] * 1000:.0f} ms "
                  "(median)")
    return 0 if all(r["lost"] == 0 for r in results.values()) else 1


def browser_rounds(base: str, rounds: int, expected: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="mco-bench-chromium-")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True, args=args)
        context.set_default_timeout(300_000)
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "bench")
        page.fill("input[name=password]", PASSWORD)
        page.click("#password-form button[type=submit]")
        page.wait_for_selector("header .user")
        firsts: list[float] = []

        def one() -> int:
            page.goto(f"{base}/agents/rpcutil/ping")
            began = time.perf_counter()
            page.click("#run-button")
            page.wait_for_selector("#results tbody tr")
            firsts.append(time.perf_counter() - began)
            page.wait_for_selector("#run[data-done=yes]")
            rows = page.locator("#results tbody tr")
            senders = set(page.eval_on_selector_all(
                "#results tbody tr", "rows => rows.map(r => r.dataset.node)"))
            assert len(senders) == rows.count()  # no duplicates
            return len(senders)

        out = timed(rounds, expected, one)
        out["first_row"] = statistics.median(firsts[1:]) if len(firsts) > 1 else firsts[0]
        context.close()
    return out


if __name__ == "__main__":
    sys.exit(main())
