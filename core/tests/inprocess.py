"""An in-process collective for daemon and client tests: the core ``loopback``
connector, a test-only HMAC security provider and test agents, all registered by hand
on one plugin manager. The daemon and client code under test is the real thing."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcollective.agent import Agent, AgentReply, AgentRequest
from mcollective.client import ClientSession, RPCClient
from mcollective.config import Config, config_from_text
from mcollective.ddl import AgentDDL, action_ddl, input_item, output_item
from mcollective.errors import InvalidRPCData
from mcollective.message import Reply, Request
from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.server.daemon import Daemon
from mcollective.testing.contracts import ContractSecurity

#: The test-only HMAC provider of the connector contract suite, under its old name here.
HmacSecurity = ContractSecurity


class Worker(Agent):
    """Test agent: echo, sleep, fail in the ways an action can."""

    agent_name = "worker"
    started = threading.Event()

    @classmethod
    def load_ddl(cls) -> AgentDDL:
        return AgentDDL.build(
            name="worker", description="test agent", author="tests", license="Apache-2.0",
            version="1.0.0", url="https://example.net", timeout=1,
            actions=[
                action_ddl("echo", "echo the message", display="always", inputs=[
                    input_item("message", description="what to echo", validation="^\\w+$",
                               maxlength=20),
                    input_item("times", description="repeat", type="integer", optional=True,
                               default=1),
                ], outputs=[output_item("message", description="echoed", display_as="Echo"),
                            output_item("node", description="who", default="unset")]),
                action_ddl("sleep", "sleep", inputs=[
                    input_item("seconds", description="how long", type="float")]),
                action_ddl("crash", "raise an unexpected error"),
                action_ddl("refuse", "fail with status 4"),
                action_ddl("soft_fail", "fail but carry on",
                           outputs=[output_item("after", description="set after fail")]),
                action_ddl("undefined", "declared but not implemented"),
            ])

    def echo(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["message"] = request["message"] * request["times"]

    def sleep(self, request: AgentRequest, reply: AgentReply) -> None:
        Worker.started.set()
        deadline = time.monotonic() + request["seconds"]
        while time.monotonic() < deadline and not request.cancelled.is_set():
            time.sleep(0.01)

    def crash(self, request: AgentRequest, reply: AgentReply) -> None:
        raise ZeroDivisionError("boom")

    def refuse(self, request: AgentRequest, reply: AgentReply) -> None:
        raise InvalidRPCData("not today")

    def soft_fail(self, request: AgentRequest, reply: AgentReply) -> None:
        reply.fail("partly broken")
        reply["after"] = "still ran"


def make_plugins(*agents: type[Agent]) -> PluginManager:
    pm = make_plugin_manager()
    pm.register("security", "contracttest", ContractSecurity)
    for cls in agents or (Worker,):
        pm.register("agent", cls.agent_name, cls)
    return pm


def node_config(identity: str, broker: str, extra: str = "") -> Config:
    # A state directory of its own (the replay cache is saved there on stop), never the
    # machine's /var/lib/mcollective that other test runs share.
    statedir = Path(tempfile.gettempdir()) / "mco-inprocess" / broker / identity
    return config_from_text(
        f"identity = {identity}\nconnector = loopback\nplugin.loopback.name = {broker}\n"
        f"statedir = {statedir}\n"
        f"securityprovider = contracttest\nfactsource = \nclassesfile = /nonexistent\n{extra}",
        role="server")


@contextmanager
def collective(*identities: str, extra: str = "", facts: Mapping[str, dict[str, Any]] | None
               = None) -> Iterator[tuple[list[Daemon], ClientSession]]:
    """Daemons for ``identities`` plus a connected client session, one fresh broker."""
    broker = uuid.uuid4().hex
    plugins = make_plugins()
    daemons = []
    try:
        for ident in identities:
            daemon = Daemon(node_config(ident, broker, extra), plugins=plugins)
            daemon.start()
            if facts and ident in facts:
                from mcollective.facts import FactsSource

                class Static(FactsSource):
                    def __init__(self, data: dict[str, Any]) -> None:
                        self.data = data

                    def get(self) -> dict[str, Any]:
                        return self.data

                daemon.facts.sources.append(("static", Static(facts[ident])))
            daemons.append(daemon)
        session = ClientSession(node_config("client", broker, extra), plugins=plugins)
        session.connect()
        try:
            yield daemons, session
        finally:
            session.close()
    finally:
        for daemon in daemons:
            daemon.stop(timeout=2)
        shutil.rmtree(Path(tempfile.gettempdir()) / "mco-inprocess" / broker,
                      ignore_errors=True)


def client(session: ClientSession, agent: str = "worker", **kw: Any) -> RPCClient:
    kw.setdefault("discovery_timeout", 2)
    return RPCClient(agent, session=session, **kw)


def reply_for(request: Request, **kw: Any) -> Reply:
    return Reply(request=request.id, sender="x", agent=request.agent, **kw)
