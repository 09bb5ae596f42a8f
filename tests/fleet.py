"""The three-node fleet most integration tests use: different facts and classes."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from mcollective.testing import LocalCollective

FLEET = {
    "web1.example.net": ({"country": "uk", "role": "web", "cpus": 4,
                          "os": {"family": "Debian", "release": {"major": "12"}},
                          "ips": ["10.0.0.1", "10.0.1.1"]}, ["apache", "base"]),
    "web2.example.net": ({"country": "de", "role": "web", "cpus": 16,
                          "os": {"family": "RedHat", "release": {"major": "9"}},
                          "ips": ["10.0.0.2"]}, ["apache", "base"]),
    "db1.example.net": ({"country": "uk", "role": "db", "cpus": 32,
                         "os": {"family": "Debian", "release": {"major": "11"}},
                         "ips": ["10.0.0.3"]}, ["mysql", "base"]),
}


def start_fleet(collective: LocalCollective) -> LocalCollective:
    for identity, (facts, classes) in FLEET.items():
        collective.add_node(identity, facts=facts, classes=classes, wait=False)
    for node in collective.nodes.values():
        collective.wait_ready(node)
    return collective


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(line for line in proc.stdout.splitlines() if line.strip())


def rpc_json(collective: LocalCollective, *args: str) -> list[dict[str, Any]]:
    """The replies of ``mco rpc ARGS -j`` (Choria's object: its ``replies``)."""
    proc = ok(collective.mco("rpc", *args, "-j"))
    return json.loads(proc.stdout)["replies"]


def daemon_stats(collective: LocalCollective, identity: str) -> dict[str, Any]:
    [reply] = rpc_json(collective, "rpcutil", "daemon_stats", "-I", identity)
    return reply["data"]
