"""Registration: the agentlist and meta payloads, the daemon's registration message and
the ``registration`` receiver agent keeping an inventory file."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from inprocess import make_plugins, node_config

from mcollective.agent import AgentContext, AgentReply, AgentRequest
from mcollective.agents.registration import Registration, node_entry
from mcollective.client import ClientSession
from mcollective.config import config_from_text
from mcollective.errors import InvalidRPCData
from mcollective.facts import FactsSource
from mcollective.inventory_file import read_inventory, write_inventory
from mcollective.registration import RegistrationContext, RegistrationPlugin
from mcollective.registration_plugins import AgentList, Meta
from mcollective.server.daemon import Daemon

CONTEXT = RegistrationContext(identity="web1", agents=["rpcutil", "discovery"],
                              facts={"country": "uk"}, classes=["base", "apache"],
                              collectives=["mcollective", "uk"])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_payloads() -> None:
    assert AgentList().payload(CONTEXT) == {"agentlist": ["discovery", "rpcutil"],
                                            "identity": "web1"}
    assert Meta().payload(CONTEXT) == {
        "identity": "web1", "agentlist": ["discovery", "rpcutil"],
        "facts": {"country": "uk"}, "classes": ["apache", "base"],
        "collectives": ["mcollective", "uk"]}


def test_node_entry_accepts_both_payloads_and_rejects_bad_types() -> None:
    assert node_entry({"agentlist": ["b", "a"]}, "mc") == {
        "facts": {}, "classes": [], "agents": ["a", "b"], "collectives": ["mc"]}
    assert node_entry(Meta().payload(CONTEXT), "mc")["facts"] == {"country": "uk"}
    bad_payloads: list[Any] = [[], {"agentlist": "rpcutil"}, {"facts": []},
                               {"classes": [1]}, {"collectives": None}]
    for bad in bad_payloads:
        with pytest.raises(InvalidRPCData):
            node_entry(bad, "mc")


def test_inventory_file_round_trip_atomic(tmp_path: Path) -> None:
    for name in ("inv.yaml", "inv.json"):
        path = tmp_path / name
        nodes = {"b": {"facts": {"x": 1}, "agents": ["rpcutil"]}, "a": {}}
        write_inventory(path, nodes, {"web": ["b"]})
        doc = read_inventory(path)
        assert list(doc["nodes"]) == ["a", "b"]
        assert doc["nodes"]["a"] == {"facts": {}, "classes": [], "agents": [],
                                     "collectives": []}
        assert doc["groups"] == {"web": ["b"]}
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert json.loads((tmp_path / "inv.json").read_text())["nodes"]["b"]["facts"] == {"x": 1}
    assert yaml.safe_load((tmp_path / "inv.yaml").read_text())["nodes"]["b"]["agents"] == [
        "rpcutil"]
    assert read_inventory(tmp_path / "missing.yaml") == {"nodes": {}, "groups": {}}
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ValueError, match=r"bad\.yaml"):
        read_inventory(tmp_path / "bad.yaml")


def test_inventory_file_reads_chorias_layout_and_keeps_its_groups(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    groups = [{"name": "uk", "filter": {"facts": ["country=uk"]}}]
    path.write_text(yaml.safe_dump({"nodes": [{"name": "web1", "facts": {"a": 1}}],
                                    "groups": groups}))
    doc = read_inventory(path)
    assert doc == {"nodes": {"web1": {"facts": {"a": 1}}}, "groups": groups}
    write_inventory(path, doc["nodes"], doc["groups"])
    assert read_inventory(path)["groups"] == groups


def test_unreadable_inventory_is_moved_aside_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("nodes: [unclosed\n")
    agent = receiver(tmp_path)
    try:
        register(agent, "web1", {"agentlist": []})
        wait_for(lambda: "web1" in read_inventory(path)["nodes"])
    finally:
        agent.shutdown()
    assert (tmp_path / "inv.yaml.unreadable").read_text() == "nodes: [unclosed\n"


def test_write_failures_are_logged_and_retried_slowly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "afile").write_text("")
    config = config_from_text(f"plugin.registration.inventory = {tmp_path}/afile/inv.yaml\n"
                              "plugin.registration.write_interval = 0\n", role="server")
    agent = Registration(AgentContext(config=config, identity="r", node=lambda: None))  # type: ignore[arg-type, return-value]
    with caplog.at_level(logging.ERROR, "mcollective.agents.registration"):
        agent.startup()
        try:
            assert register(agent, "web1", {"agentlist": []}).statuscode == 0
            time.sleep(1.5)
        finally:
            agent.shutdown()
    failures = [r for r in caplog.records if "could not write" in r.getMessage()]
    assert 1 <= len(failures) <= 2


def test_agent_activates_only_where_configured() -> None:
    assert not Registration.activate(config_from_text(""))
    assert Registration.activate(config_from_text("plugin.registration.inventory = x.yaml\n"))


def receiver(tmp_path: Path, settings: str = "") -> Registration:
    config = config_from_text(f"plugin.registration.inventory = {tmp_path}/inv.yaml\n"
                              f"plugin.registration.write_interval = 0\n{settings}",
                              role="server")
    agent = Registration(AgentContext(config=config, identity="r", node=lambda: None))  # type: ignore[arg-type, return-value]
    agent.startup()
    return agent


def register(agent: Registration, sender: str, payload: Any,
             caller: str | None = None) -> AgentReply:
    request = AgentRequest(agent="registration", action="register",
                           data={"payload": payload}, caller=caller or f"identity={sender}",
                           sender=sender, id=uuid.uuid4().hex, time=time.time(),
                           collective="mcollective", timeout=10)
    reply = AgentReply()
    agent.handle(request, reply)
    return reply


def test_receiver_rejects_bad_registrations(tmp_path: Path) -> None:
    agent = receiver(tmp_path)
    try:
        assert register(agent, "web1", {"identity": "web1", "agentlist": []}).statuscode == 0
        assert register(agent, "web1", {"identity": "db1"}).statuscode == 4
        assert register(agent, "../etc", {}).statuscode == 4
        assert register(agent, "web2", {"facts": "nope"}).statuscode == 4
        assert register(agent, "web3", {}, caller="identity=web1").statuscode == 4
        assert register(agent, "web4", {}, caller="user=mallory").statuscode == 4
    finally:
        agent.shutdown()
    assert list(read_inventory(tmp_path / "inv.yaml")["nodes"]) == ["web1"]


def test_receiver_expires_nodes_keeps_groups_and_restarts(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    write_inventory(path, {"old": {"facts": {"a": 1}}}, {"all": ["old"]})
    agent = receiver(tmp_path, "plugin.registration.expire = 1\n")
    try:
        # Loaded from the file at start-up, groups kept.
        assert agent._nodes["old"]["facts"] == {"a": 1}
        register(agent, "web1", Meta().payload(CONTEXT))
        wait_for(lambda: "web1" in read_inventory(path)["nodes"])
        assert read_inventory(path)["groups"] == {"all": ["old"]}
        # Hand-edited groups survive the receiver's next write.
        doc = yaml.safe_load(path.read_text())
        doc["groups"] = {"web": ["web1"]}
        path.write_text(yaml.safe_dump(doc))
        for _ in range(3):
            time.sleep(0.5)
            register(agent, "web1", Meta().payload(CONTEXT))
        wait_for(lambda: "old" not in read_inventory(path)["nodes"])
        assert read_inventory(path)["groups"] == {"web": ["web1"]}
        wait_for(lambda: read_inventory(path)["nodes"] == {}, timeout=5)
    finally:
        agent.shutdown()


class Static(FactsSource):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def get(self) -> dict[str, Any]:
        return self.data


@contextmanager
def fleet(tmp_path: Path, registration: str = "meta"
          ) -> Iterator[tuple[list[Daemon], Path]]:
    broker = uuid.uuid4().hex
    plugins = make_plugins()
    inventory = tmp_path / "inventory.yaml"
    common = f"registerinterval = 1\nregistration = {registration}\n"
    daemons = []
    try:
        for ident, extra in (("receiver", f"plugin.registration.inventory = {inventory}\n"
                                          "plugin.registration.write_interval = 0.1\n"),
                             ("web1", ""), ("db1", "")):
            daemon = Daemon(node_config(ident, broker, common + extra), plugins=plugins)
            daemon.start()  # loads the configured facts sources, then we add ours
            daemon.facts.sources.append(("static", Static({"name": ident})))
            daemons.append(daemon)
        yield daemons, inventory
    finally:
        for daemon in daemons:
            daemon.stop(timeout=2)


def test_fleet_registers_into_inventory(tmp_path: Path) -> None:
    with fleet(tmp_path) as (daemons, inventory):
        assert "registration" in daemons[0].agents
        assert all("registration" not in d.agents for d in daemons[1:])

        def complete() -> bool:
            nodes = read_inventory(inventory)["nodes"]
            return set(nodes) == {"receiver", "web1", "db1"} and all(
                nodes[n]["facts"] == {"name": n} for n in nodes)

        wait_for(complete)
        web1 = read_inventory(inventory)["nodes"]["web1"]
        assert "worker" in web1["agents"] and web1["collectives"] == ["mcollective"]
        # Registrations are not answered and do not reach ordinary nodes' agents.
        assert all(d.stats["replies"] == 0 for d in daemons)
        assert daemons[0].stats["passed"] >= 3


def test_agentlist_registration(tmp_path: Path) -> None:
    with fleet(tmp_path, "agentlist") as (_, inventory):
        wait_for(lambda: set(read_inventory(inventory)["nodes"]) == {"receiver", "web1",
                                                                     "db1"})
        assert read_inventory(inventory)["nodes"]["db1"]["facts"] == {}


class ListPayload(RegistrationPlugin):
    def payload(self, context: RegistrationContext) -> Any:
        return ["not", "an", "object"]


def test_non_object_payloads_are_wrapped() -> None:
    plugins = make_plugins()
    broker = uuid.uuid4().hex
    daemon = Daemon(node_config("n1", broker), plugins=plugins)
    daemon.start()
    try:
        daemon.registration = ListPayload()
        session = ClientSession(node_config("spy", broker), plugins=plugins)
        sent: list[bytes] = []
        assert daemon.connector is not None
        original = daemon.connector.publish_request

        def spy(body: bytes, **kw: Any) -> None:
            sent.append(body)
            original(body, **kw)

        daemon.connector.publish_request = spy  # type: ignore[method-assign]
        daemon.register_once()
        session.close()
    finally:
        daemon.stop(timeout=2)
    [body] = sent
    request = json.loads(json.loads(body)["request"])
    assert request["agent"] == "registration" and request["filter"]["agent"] == [
        "registration"]
    assert request["message"] == {"action": "register", "process_results": False,
                                  "data": {"payload": {"identity": "n1",
                                                       "data": ["not", "an", "object"]}}}
