"""The federation broker (``mco-federation``) between two separate middlewares: two
private NATS servers, A (the clients' network) and B (collective "far"'s nodes). The
client knows only server A; ``mco`` reaches the nodes behind B through the broker,
replies come back, and the audit log says so. Forged requests do not cross, and two
brokers forwarding in a loop stop at the ``seen_by`` trace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fleet import lines, ok, rpc_json

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import NatsServer, brokers_required

pytestmark = pytest.mark.broker("nats")

PSK = "federation-test-key"


class Federation:
    """One ``mco-federation`` process."""

    def __init__(self, root: Path, name: str, clients_url: str, nodes_url: str,
                 collectives: list[str], reply_collectives: list[str]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.name = root, name
        for side, url in (("clients", clients_url), ("nodes", nodes_url)):
            (root / f"{side}.cfg").write_text(
                f"identity = {name}-{side}\ncollectives = {','.join(collectives)}\n"
                f"connector = nats\nplugin.nats.url = {url}\nplugin.nats.max_backoff = 0.5\n"
                f"securityprovider = psk\nplugin.psk = {PSK}\n")
            (root / f"{side}.cfg").chmod(0o600)  # it holds a secret (docs/configuration.md)
        self.audit = root / "audit.log"
        (root / "federation.yaml").write_text(yaml.safe_dump({
            "name": name, "collectives": collectives, "clients": "clients.cfg",
            "nodes": "nodes.cfg", "reply_collectives": reply_collectives,
            "audit": str(self.audit)}))
        self.pidfile = root / "pid"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Federation:
        script = Path(sys.executable).parent / "mco-federation"
        self.process = subprocess.Popen(
            [str(script), "-c", str(self.root / "federation.yaml"), "--pidfile",
             str(self.pidfile), "--logfile", str(self.root / "federation.log")])
        deadline = time.monotonic() + 30
        while not self.pidfile.exists():
            assert self.process.poll() is None, (self.root / "federation.log").read_text()
            assert time.monotonic() < deadline, "mco-federation did not start"
            time.sleep(0.05)
        return self

    def records(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


def _nats() -> NatsServer:
    server = NatsServer()
    if not server.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but nats-server is not installed")
        pytest.skip("nats-server is not installed")
    return server.start()


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[LocalCollective, LocalCollective, Federation]]:
    """Server A with the client (collectives home and far), server B with far's nodes,
    and federation broker fed-ab between them."""
    a, b = _nats(), _nats()
    root = tmp_path_factory.mktemp("federation")
    home = LocalCollective(root / "a", connector_url=a.url, connector="nats",
                           collectives=("home", "far"), psk=PSK)
    far = LocalCollective(root / "b", connector_url=b.url, connector="nats",
                          collectives=("far",), psk=PSK)
    fed = Federation(root / "fed-ab", "fed-ab", a.url, b.url, ["far"], ["home"])
    try:
        for name, country in (("far1.example.org", "jp"), ("far2.example.org", "nz")):
            far.add_node(name, facts={"country": country}, wait=False)
        for node in far.nodes.values():
            far.wait_ready(node)
        fed.start()
        yield home, far, fed
    finally:
        fed.stop()
        far.stop_all()
        home.stop_all()
        a.close()
        b.close()


def test_mco_rpc_reaches_nodes_behind_the_other_broker(
        networks: tuple[LocalCollective, LocalCollective, Federation]) -> None:
    home, _, fed = networks
    replies = rpc_json(home, "rpcutil", "get_fact", "fact=country", "-T", "far")
    assert {r["sender"]: r["data"]["value"] for r in replies} == {
        "far1.example.org": "jp", "far2.example.org": "nz"}
    forwarded = [r for r in fed.records() if r["event"] == "forwarded"]
    assert forwarded, fed.records()
    last = forwarded[-1]
    assert last["caller"].startswith("user=") and last["agent"] == "rpcutil"
    assert last["action"] == "get_fact" and last["collective"] == "far"
    assert last["seen_by"] == ["fed-ab"]


def test_discovery_and_direct_requests_through_the_federation(
        networks: tuple[LocalCollective, LocalCollective, Federation]) -> None:
    home, _, fed = networks
    assert lines(ok(home.mco("find", "-T", "far", "-F", "country=nz"))) == [
        "far2.example.org"]
    replies = rpc_json(home, "rpcutil", "ping", "-T", "far", "-I", "far1.example.org")
    assert [r["sender"] for r in replies] == ["far1.example.org"]
    assert any(r["target"] == "far1.example.org" for r in fed.records())
    # Collective home is not federated: nothing crosses for it.
    assert home.mco("find").stdout.strip() == ""


def test_a_forged_request_does_not_cross(
        networks: tuple[LocalCollective, LocalCollective, Federation]) -> None:
    from mcollective.config import config_from_text
    from mcollective.message import Request, wrap_secure
    from mcollective.plugins import make_plugin_manager

    home, _, fed = networks
    config = config_from_text(f"identity = mallory\ncollectives = far\nconnector = nats\n"
                              f"plugin.nats.url = {home.connector_url}\n"
                              f"securityprovider = psk\nplugin.psk = not-the-key\n")
    connector = make_plugin_manager().create_connector(config)
    connector.connect(timeout=5)
    try:
        request = Request(agent="rpcutil", collective="far", sender="mallory",
                          caller="user=mallory", message={"action": "ping", "data": {}},
                          reply_to="home.reply.anonymous.mallory.1.x")
        body = wrap_secure("request", request.to_json(), "psk", {"signature": "0" * 64})
        connector.publish_request(body, collective="far", agent="rpcutil", ttl=60)
    finally:
        connector.close()
    deadline = time.monotonic() + 20
    while not [r for r in fed.records() if r["request_id"] == request.id]:
        assert time.monotonic() < deadline, "the federation never judged the request"
        time.sleep(0.1)
    [record] = [r for r in fed.records() if r["request_id"] == request.id]
    assert record["event"] == "refused" and "not authenticated" in record["reason"]


def test_brokers_forwarding_in_a_loop_stop_at_the_seen_by_trace(
        networks: tuple[LocalCollective, LocalCollective, Federation],
        tmp_path: Path) -> None:
    """fed-ba forwards far's requests from B back to A: every request fed-ab forwards
    comes back to it, named in the trace, and is dropped; the nodes answer once."""
    home, far, fed = networks
    b_url = far.connector_url or ""
    back = Federation(tmp_path / "fed-ba", "fed-ba", b_url, home.connector_url or "",
                      ["far"], ["home"]).start()
    try:
        replies = rpc_json(home, "rpcutil", "ping", "-T", "far")
        assert sorted(r["sender"] for r in replies) == ["far1.example.org",
                                                        "far2.example.org"]
        request_ids = {r["request_id"] for r in back.records() if r["event"] == "forwarded"}
        assert request_ids
        deadline = time.monotonic() + 20
        while not any(r["event"] == "loop" and r["request_id"] in request_ids
                      for r in fed.records()):
            assert time.monotonic() < deadline, fed.records()[-5:]
            time.sleep(0.1)
        loop = next(r for r in fed.records() if r["event"] == "loop")
        assert loop["seen_by"] == ["fed-ab", "fed-ba"]
    finally:
        back.stop()
