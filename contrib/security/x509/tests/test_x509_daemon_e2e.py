"""The x509 plugin in real daemons: registration signed with each node's own certificate
(caller ``identity=<certname>``), which the receiver accepts although node certificates
may not send any other request; and a daemon that refuses to start, with one line
naming the file, when its key is readable by others or its certificate expired."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from x509_helpers import TestCA

from mcollective.inventory_file import read_inventory
from mcollective.testing import LocalCollective

pytestmark = pytest.mark.slow

RECEIVER = "inventory.example.net"
NODES = ("web1.example.net", "db1.example.net")
REGISTRATION = {"registerinterval": 5, "registration": "meta", "registration_splay": 1}


def test_nodes_register_with_their_own_certificates(tmp_path: Path) -> None:
    ca = TestCA("Site")
    ssl = ca.write_ssldir(tmp_path / "ssl", RECEIVER, *NODES, "admin")
    inventory = tmp_path / "inventory.yaml"
    with LocalCollective(tmp_path / "c", extra_config={
            "securityprovider": "x509", "plugin.psk": None,
            "plugin.x509.ssldir": str(ssl), "plugin.x509.clients": "admin"}) as collective:
        collective.add_node(RECEIVER, wait=False, settings={
            **REGISTRATION, "plugin.registration.inventory": str(inventory),
            "plugin.registration.expire": 60})
        for identity in NODES:
            collective.add_node(identity, wait=False, settings=REGISTRATION)
        for node in collective.nodes.values():
            collective.wait_ready(node)
        expected = {RECEIVER, *NODES}
        deadline = time.monotonic() + 60
        nodes: dict[str, object] = {}
        while time.monotonic() < deadline:
            if inventory.exists():
                nodes = read_inventory(inventory)["nodes"]
                if set(nodes) == expected:
                    break
            time.sleep(0.25)
        assert set(nodes) == expected, f"the inventory has {sorted(nodes)}"
        admin = collective.write_client_config("admin.cfg", **{"plugin.x509.certname": "admin"})
        proc = collective.mco("rpc", "rpcutil", "daemon_stats", "-I", RECEIVER,
                              "--json-format", "mcollective",
                              config=admin)
        assert proc.returncode == 0, proc.stderr
        [stats] = json.loads(proc.stdout)
        assert stats["data"]["unvalidated"] == 0, collective.nodes[RECEIVER].log()


@pytest.mark.parametrize(("break_it", "expected"), [
    (lambda ssl, name: (ssl / "private_keys" / f"{name}.pem").chmod(0o644),
     "has mode 0644: it must not be accessible by others"),
    (lambda ssl, name: None, "expired at"),
], ids=["key readable by others", "expired certificate"])
def test_daemon_refuses_to_start(tmp_path: Path, break_it: object, expected: str) -> None:
    ca = TestCA("Site")
    name = "late.example.net"
    if expected == "expired at":
        ca.issue(name, valid_from=time.time() - 40 * 86400, days=30)
    ssl = ca.write_ssldir(tmp_path / "ssl", name)
    break_it(ssl, name)  # type: ignore[operator]
    with LocalCollective(tmp_path / "c", extra_config={
            "securityprovider": "x509", "plugin.psk": None,
            "plugin.x509.ssldir": str(ssl), "plugin.x509.clients": "admin"}) as collective:
        node = collective.add_node(name, start=False)
        collective.start(node, wait=False)
        assert node.process is not None
        assert node.process.wait(60) != 0
        output = (node.directory / "stderr.log").read_text() + node.log()
        assert expected in output and str(ssl) in output, output
        assert "Traceback" not in output
