"""Registration with real daemons: every node announces itself every 5 seconds with the
``meta`` plugin, and a receiver keeps an inventory file listing every running daemon
with its facts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fleet import FLEET

from mcollective.inventory_file import read_inventory
from mcollective.testing import LocalCollective

RECEIVER = "inventory.example.net"
REGISTRATION = {"registerinterval": 5, "registration": "meta", "registration_splay": 1}


def test_inventory_lists_every_daemon_with_facts_within_15s(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    with LocalCollective(tmp_path / "c") as collective:
        collective.add_node(RECEIVER, facts={"role": "inventory"}, classes=["base"],
                            settings={**REGISTRATION,
                                      "plugin.registration.inventory": str(inventory),
                                      "plugin.registration.expire": 60},
                            wait=False)
        for identity, (facts, classes) in FLEET.items():
            collective.add_node(identity, facts=facts, classes=classes,
                                settings=REGISTRATION, wait=False)
        for node in collective.nodes.values():
            collective.wait_ready(node)
        started = time.monotonic()
        expected: dict[str, tuple[Any, list[str]]] = {
            RECEIVER: ({"role": "inventory"}, ["base"]), **FLEET}
        nodes: dict[str, Any] = {}
        while time.monotonic() - started < 15:
            nodes = read_inventory(inventory)["nodes"]  # atomic: never half a file
            if set(nodes) == set(expected) and all(
                    nodes[name]["facts"] == expected[name][0] for name in expected):
                break
            time.sleep(0.25)
        assert set(nodes) == set(expected), f"after 15 s the inventory has {sorted(nodes)}"
        for name, (facts, classes) in expected.items():
            entry = nodes[name]
            assert entry["facts"] == facts
            assert entry["classes"] == sorted(classes)
            assert entry["collectives"] == ["mcollective"]
            assert {"rpcutil", "discovery"} <= set(entry["agents"])
        # The inventory discovery method finds nodes in the receiver's file.
        found = collective.mco("find", "--dm", "inventory", "--do", str(inventory),
                               "-F", "country=uk")
        assert found.returncode == 0, found.stderr
        assert sorted(found.stdout.split()) == ["db1.example.net", "web1.example.net"]
        # Only the configured node became a receiver.
        assert "registration" in nodes[RECEIVER]["agents"]
        assert all("registration" not in nodes[n]["agents"] for n in FLEET)
