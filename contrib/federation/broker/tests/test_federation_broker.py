"""The federation broker in this process, between two private NATS servers (A: the
clients' side, B: the nodes' side): what it forwards, what it refuses and audits, and
which replies it routes back. ``mco`` through it is tested in the repository's tests/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcollective.config import config_from_text
from mcollective.errors import ConfigError
from mcollective.message import Reply, Request, add_hop, unwrap_secure
from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.security import encode_reply, encode_request
from mcollective.testing.brokers import NatsServer, brokers_required
from mcollective.testing.contracts import ContractSecurity, Inbox, wait_until
from mcollective_federation.broker import FederationBroker
from mcollective_federation.settings import load_settings

pytest.importorskip("mcollective_connector_nats")


def plugins() -> PluginManager:
    manager = make_plugin_manager()
    manager.register("security", "contracttest", ContractSecurity)
    return manager


def write(root: Path, a: str, b: str, **extra: Any) -> Path:
    for side, url in (("clients", a), ("nodes", b)):
        (root / f"{side}.cfg").write_text(
            f"identity = fed-{side}\ncollectives = far,home\nconnector = nats\n"
            f"plugin.nats.url = {url}\nsecurityprovider = contracttest\n")
    settings = {"name": "fed", "collectives": ["far"], "clients": "clients.cfg",
                "nodes": "nodes.cfg", "reply_collectives": ["home"],
                "audit": str(root / "audit.log"), **extra}
    (root / "federation.yaml").write_text(yaml.safe_dump(settings))
    return root / "federation.yaml"


def test_configuration_mistakes_name_the_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "nats://127.0.0.1:1", "nats://127.0.0.1:2", max_hops=0)
    with pytest.raises(ConfigError, match=r"federation\.yaml.*max_hops"):
        load_settings(path)
    path = write(tmp_path, "nats://127.0.0.1:1", "nats://127.0.0.1:2", nodes="nope.cfg")
    with pytest.raises(ConfigError, match="key 'nodes': no such file"):
        load_settings(path)
    (tmp_path / "federation.yaml").write_text("name: fed\n")
    with pytest.raises(ConfigError, match="required key not provided"):
        load_settings(tmp_path / "federation.yaml")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[NatsServer, NatsServer]]:
    a, b = NatsServer(), NatsServer()
    if not a.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but nats-server is not installed")
        pytest.skip("nats-server is not installed")
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


class World:
    """The broker, a node on B answering every request, a client on A."""

    def __init__(self, root: Path, a: NatsServer, b: NatsServer, **extra: Any) -> None:
        self.root = root
        self.plugins = plugins()
        self.broker = FederationBroker(load_settings(write(root, a.url, b.url, **extra)),
                                       plugins=self.plugins)
        self.security = ContractSecurity()
        self.node = self._connector("far1", "far", b.url)
        self.node_inbox = Inbox()
        self.node.start(self._answer)
        self.node.subscribe_node("far1", ["far"], ["rpcutil"])
        self.client = self._connector("client", "home,far", a.url)
        self.reply_to = self.client.subscribe_replies()
        self.replies = Inbox()
        self.client.start(self.replies)
        self.broker.start()

    def _connector(self, identity: str, collectives: str, url: str) -> Any:
        connector = self.plugins.create_connector(config_from_text(
            f"identity = {identity}\ncollectives = {collectives}\nconnector = nats\n"
            f"plugin.nats.url = {url}\nsecurityprovider = contracttest\n"))
        connector.connect(timeout=5)
        return connector

    def _answer(self, body: bytes, identity: str | None) -> None:
        self.node_inbox(body, identity)
        _, payload = unwrap_secure("request", body)
        request = Request.from_json(payload)
        reply = Reply(request=request.id, sender="far1", agent=request.agent)
        assert request.reply_to is not None
        self.node.publish_reply(encode_reply(reply, self.security), request.reply_to, ttl=60)

    def request(self, **changes: Any) -> Request:
        request = Request(agent="rpcutil", collective="far", sender="client",
                          caller="user=alice", message={"action": "ping", "data": {}},
                          reply_to=self.reply_to)
        for key, value in changes.items():
            setattr(request, key, value)
        return request

    def send(self, request: Request, targets: list[str] | None = None,
             body: bytes | None = None) -> None:
        self.client.publish_request(body or encode_request(request, self.security),
                                    collective=request.collective, agent=request.agent,
                                    ttl=request.ttl, targets=targets)

    def audit(self) -> list[dict[str, Any]]:
        path = self.root / "audit.log"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def judged(self, request: Request) -> dict[str, Any]:
        assert wait_until(lambda: any(r["request_id"] == request.id for r in self.audit()))
        return next(r for r in self.audit() if r["request_id"] == request.id)

    def close(self) -> None:
        self.broker.stop()
        self.node.close()
        self.client.close()


@pytest.fixture
def world(servers: tuple[NatsServer, NatsServer], tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, *servers, allow_callers=["user=alice"], max_hops=2)
    try:
        yield w
    finally:
        w.close()


def test_a_request_crosses_and_its_reply_comes_back(world: World) -> None:
    request = world.request()
    world.send(request)
    assert world.replies.wait_for(lambda items: len(items) == 1)
    reply = Reply.from_json(unwrap_secure("reply", world.replies.items[0][0])[1])
    assert reply.request == request.id and reply.sender == "far1"
    record = world.judged(request)
    assert record["event"] == "forwarded" and record["seen_by"] == ["fed"]
    assert record["caller"] == "user=alice" and record["target"] is None
    # The node got the signed request unchanged, with the trace beside it.
    outer, payload = unwrap_secure("request", world.node_inbox.items[0][0])
    assert payload == request.to_json() and outer["seen_by"] == ["fed"]
    # The relay counts a reply after passing it on: the client may have it first.
    assert wait_until(lambda: world.broker.stats["replies"] == 1, timeout=10)
    assert world.broker.stats["forwarded"] == 1


def test_direct_requests_keep_their_target(world: World) -> None:
    request = world.request()
    world.send(request, targets=["far1", "far9"])
    assert world.node_inbox.wait_for(lambda items: len(items) == 1)
    assert wait_until(lambda: len([r for r in world.audit()
                                   if r["request_id"] == request.id]) == 2)
    assert {r["target"] for r in world.audit()} == {"far1", "far9"}


@pytest.mark.parametrize(("change", "event", "reason"), [
    ({"caller": "user=mallory"}, "refused", "not allowed"),
    ({"time": time.time() - 3600}, "expired", "ttl"),
])
def test_refused_requests_are_audited_and_never_reach_the_nodes(
        world: World, change: dict[str, Any], event: str, reason: str) -> None:
    request = world.request(**change)
    world.send(request)
    record = world.judged(request)
    assert record["event"] == event and reason in record["reason"]
    time.sleep(0.3)
    assert world.node_inbox.items == []


def test_forged_and_malformed_requests_are_refused(world: World) -> None:
    forged = world.request()
    body = encode_request(forged, ContractSecurity(b"another key"))
    world.send(forged, body=body)
    assert "not authenticated" in world.judged(forged)["reason"]
    world.send(world.request(), body=b"\x00 not json")
    assert wait_until(lambda: any("malformed" in (r["reason"] or "")
                                  for r in world.audit()))
    assert world.node_inbox.items == []


def test_too_many_hops_and_own_name_in_the_trace(world: World) -> None:
    long = world.request()
    outer, _ = unwrap_secure("request", encode_request(long, world.security))
    body = add_hop(unwrap_secure("request", add_hop(outer, "x"))[0], "y")
    world.send(long, body=body)
    assert "max_hops" in world.judged(long)["reason"]
    looped = world.request()
    outer, _ = unwrap_secure("request", encode_request(looped, world.security))
    world.send(looped, body=add_hop(outer, "fed"))
    assert world.judged(looped)["event"] == "loop"
    assert world.node_inbox.items == []


def test_only_replies_to_its_own_requests_go_back(world: World) -> None:
    stray = Reply(request="f" * 32, sender="far1", agent="rpcutil")
    world.node.publish_reply(encode_reply(stray, world.security), world.reply_to, ttl=60)
    assert wait_until(lambda: world.broker.stats["replies_dropped"] >= 1)
    assert world.replies.items == []


def test_a_connector_that_cannot_relay_is_a_configuration_error(tmp_path: Path) -> None:
    for side in ("clients", "nodes"):
        (tmp_path / f"{side}.cfg").write_text(
            f"identity = fed-{side}\ncollectives = far,home\nconnector = loopback\n"
            "securityprovider = contracttest\n")
    (tmp_path / "federation.yaml").write_text(yaml.safe_dump({
        "name": "fed", "collectives": ["far"], "clients": "clients.cfg",
        "nodes": "nodes.cfg", "audit": str(tmp_path / "audit.log")}))
    broker = FederationBroker(load_settings(tmp_path / "federation.yaml"),
                              plugins=plugins())
    try:
        with pytest.raises(ConfigError, match="connectors that relay"):
            broker.start()
    finally:
        broker.stop()
