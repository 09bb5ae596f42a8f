"""The connector contract: one set of tests that every connector, on every transport,
must pass (DESIGN §5, §9).

A connector's test suite subclasses :class:`ConnectorContract` once per transport and
overrides the ``connector_factory`` fixture to return a :class:`ConnectorFactory` that
knows how to configure that transport and, where it can, how to look into the
middleware (what queues are left) and how to simulate a crash::

    from mcollective.testing.contracts import ConnectorContract, ConnectorFactory

    class MyFactory(ConnectorFactory):
        def settings(self, identity):
            return {"connector": "mine", "plugin.mine.url": "..."}

    class TestMineContract(ConnectorContract):
        @pytest.fixture
        def connector_factory(self, tmp_path):
            factory = MyFactory(tmp_path)
            yield factory
            factory.close()

What is checked: broadcast reaches exactly the nodes hosting the agent; direct requests
reach only their targets; replies reach only their client; one collective's traffic
never reaches another's nodes; one connector can serve many identities; subscriptions
can be changed while consuming; a failing handler never stops consumption; stale
requests are dropped (by the real daemon, since only some transports expire messages);
consumers that close, or crash, leave nothing behind; nothing is lost across 1,000
requests.

"Not delivered" is proven without sleeping where the transport keeps order: after the
message that must not arrive, a *fence* is sent to every node, broadcast and direct;
once every node has both, whatever was routed to it before has arrived too.
Transports without order (SQS) set :attr:`ConnectorFactory.grace`.

The security plugins' contract, :class:`SecurityContract`, lives in
:mod:`mcollective.testing.security` and is importable from here too.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mcollective import hookimpl
from mcollective.config import Config, config_from_text
from mcollective.connector import Connector
from mcollective.errors import SecurityError
from mcollective.message import Request
from mcollective.plugins import make_plugin_manager
from mcollective.security import SecurityProvider
from mcollective.testing.security import SecurityContract, SecurityFactory

#: Every contract node hosts this agent, so that a broadcast fence reaches them all.
FENCE_AGENT = "contractfence"
_KEY = b"connector-contract-key"


class ContractSecurity(SecurityProvider):
    """HMAC with a fixed key: the contract's daemons (and core's own in-process tests)
    need *a* security provider, and core ships none. Registered by hand as
    ``contracttest``; never for production. ``key`` lets a test forge with another."""

    name = "contracttest"

    def __init__(self, key: bytes = _KEY) -> None:
        self.key = key

    def caller_id(self) -> str:
        return "user=contract"

    def _sig(self, payload: str) -> str:
        # "surrogatepass": a payload can hold lone surrogates (from JSON escapes).
        data = payload.encode("utf-8", "surrogatepass")
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()

    def sign_request(self, payload: str, request: Request) -> Mapping[str, Any]:
        return {"signature": self._sig(payload)}

    def verify_request(self, fields: Mapping[str, Any], payload: str,
                       request: Request) -> None:
        signature = fields.get("signature")
        if not isinstance(signature, str) or not hmac.compare_digest(
                signature.encode("utf-8", "surrogatepass"), self._sig(payload).encode()):
            raise SecurityError("bad signature")

    sign_reply = sign_request  # type: ignore[assignment]
    verify_reply = verify_request  # type: ignore[assignment]

    @hookimpl
    @staticmethod
    def mco_security_create() -> SecurityProvider:
        return ContractSecurity()


class ConnectorFactory:
    """Makes connectors for one transport and inspects what the middleware holds.

    Override :meth:`settings`; override :meth:`leftovers`, :meth:`crash` and
    :meth:`sweep` where the transport allows, else those checks are skipped.
    """

    #: Seconds to wait after a fence, for transports that do not keep order (SQS).
    grace: float = 0.0
    #: Seconds the janitor may take to remove a crashed consumer's queues.
    sweep_timeout: float = 15.0
    #: How many requests the no-loss test sends (the contract says 1,000).
    bulk_requests: int = 1000

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self.plugins = make_plugin_manager()
        if "contracttest" not in self.plugins.known_names("security"):
            self.plugins.register("security", "contracttest", ContractSecurity)
        self.created: list[Connector] = []

    def settings(self, identity: str) -> dict[str, Any]:
        """Configuration keys selecting and configuring the connector."""
        raise NotImplementedError

    def config(self, identity: str, collectives: Collection[str] = ("mcollective",),
               role: str = "client", extra: Mapping[str, Any] | None = None) -> Config:
        cols = list(collectives)
        lines = {"identity": identity, "collectives": ",".join(cols),
                 "main_collective": cols[0], "securityprovider": "contracttest",
                 "factsource": "", "classesfile": "/nonexistent"}
        if self.root is not None:
            lines["statedir"] = str(self.root / "state" / identity)
        lines.update(self.settings(identity))
        lines.update(extra or {})
        text = "".join(f"{k} = {v}\n" for k, v in lines.items() if v is not None)
        return config_from_text(text, role=role)  # type: ignore[arg-type]

    def create(self, identity: str, collectives: Collection[str] = ("mcollective",)
               ) -> Connector:
        """A new, not yet connected connector."""
        connector = self.plugins.create_connector(self.config(identity, collectives))
        self.created.append(connector)
        return connector

    def leftovers(self, collective: str) -> set[str] | None:
        """Names of queues (or lists, subscriptions...) the middleware still holds for
        ``collective``, excluding any that the transport keeps by design; ``None``
        when the middleware cannot be inspected."""
        return None

    def crash(self, connector: Connector) -> bool:
        """Make ``connector`` stop as a killed process would (nothing cleaned up);
        False if this transport cannot simulate that in-process."""
        return False

    def sweep(self) -> None:
        """Run whatever janitor removes crashed consumers' queues (once)."""

    def inject(self, node: Connector, collective: str, identity: str, agent: str,
               payload: bytes) -> int:
        """Put ``payload`` raw onto the middleware, bypassing every connector, on each
        path by which ``node`` (subscribed as ``identity``, hosting ``agent``) receives
        (broadcast, direct); return how many messages that made (0: this transport
        cannot be written to raw here, and the garbage check is skipped). Used with
        :data:`mcollective.testing.hostile.GARBAGE`."""
        return 0

    def close(self) -> None:
        """Remove what the tests left on the middleware."""


class Inbox:
    """An ``on_message`` handler recording ``(body, identity)``; tests wait for what
    they expect, never for a fixed time."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, str | None]] = []
        self._cond = threading.Condition()

    def __call__(self, body: bytes, identity: str | None) -> None:
        with self._cond:
            self.items.append((body, identity))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[tuple[bytes, str | None]]], bool],
                 timeout: float = 20.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.items), timeout)

    def requests(self, identity: str | None = None) -> list[bytes]:
        """Bodies received, fences excluded (for ``identity`` only, if given)."""
        with self._cond:
            return [b for b, i in self.items if not b.startswith(b"fence:")
                    and (identity is None or i == identity)]


class Contract:
    """Connectors made for one test, closed at its end."""

    def __init__(self, factory: ConnectorFactory) -> None:
        self.factory = factory
        self.connectors: list[Connector] = []
        self.collectives: list[str] = []

    def collective(self) -> str:
        name = f"k{uuid.uuid4().hex[:10]}"
        self.collectives.append(name)
        return name

    def connector(self, identity: str, collectives: Collection[str] = ("mcollective",)
                  ) -> Connector:
        connector = self.factory.create(identity, collectives)
        connector.connect(timeout=15)
        self.connectors.append(connector)
        return connector

    def node(self, identity: str, collectives: list[str], agents: list[str],
             handler: Callable[[bytes, str | None], None] | None = None
             ) -> tuple[Connector, Inbox]:
        connector = self.connector(identity, collectives)
        inbox = Inbox()
        connector.start(handler or inbox)
        connector.subscribe_node(identity, collectives, [*agents, FENCE_AGENT])
        return connector, inbox

    def client(self, identity: str, collective: str) -> tuple[Connector, Inbox, str]:
        connector = self.connector(identity, [collective])
        reply_to = connector.subscribe_replies()
        inbox = Inbox()
        connector.start(inbox)
        return connector, inbox, reply_to

    def fence(self, client: Connector, collective: str, nodes: Mapping[str, Inbox]) -> None:
        """Broadcast and direct fences to ``nodes`` in ``collective``; returns once
        each node has both (see the module docstring)."""
        token = uuid.uuid4().hex
        broadcast = f"fence:b:{token}".encode()
        client.publish_request(broadcast, collective=collective, agent=FENCE_AGENT, ttl=60)
        for identity in nodes:
            direct = f"fence:d:{token}:{identity}".encode()
            client.publish_request(direct, collective=collective, agent=FENCE_AGENT,
                                   ttl=60, targets=[identity])
        for identity, inbox in nodes.items():
            wanted = {(broadcast, identity), (f"fence:d:{token}:{identity}".encode(), identity)}
            assert inbox.wait_for(wanted.issubset), \
                f"fences to {identity} in {collective} never arrived"
        if self.factory.grace:
            time.sleep(self.factory.grace)

    def close(self) -> None:
        for connector in self.connectors:
            try:
                connector.close()
            except Exception:  # a test may have crashed it on purpose
                pass


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0,
               step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class ConnectorContract:
    """Subclass per transport and override :meth:`connector_factory`."""

    @pytest.fixture
    def connector_factory(self) -> Iterator[ConnectorFactory]:
        raise NotImplementedError("override the connector_factory fixture")

    @pytest.fixture
    def contract(self, connector_factory: ConnectorFactory) -> Iterator[Contract]:
        harness = Contract(connector_factory)
        try:
            yield harness
        finally:
            harness.close()

    # --- routing ----------------------------------------------------------------------

    def test_broadcast_reaches_exactly_the_nodes_hosting_the_agent(
            self, contract: Contract) -> None:
        c = contract.collective()
        _, n1 = contract.node("n1", [c], ["rpcutil", "package"])
        _, n2 = contract.node("n2", [c], ["rpcutil"])
        _, n3 = contract.node("n3", [c], ["service"])
        client, _, _ = contract.client("client", c)

        client.publish_request(b"r1", collective=c, agent="rpcutil", ttl=60)
        client.publish_request(b"p1", collective=c, agent="package", ttl=60)
        client.publish_request(b"x", collective=c, agent="nosuchagent", ttl=60)
        contract.fence(client, c, {"n1": n1, "n2": n2, "n3": n3})

        assert sorted(n1.requests()) == [b"p1", b"r1"]
        assert n2.requests() == [b"r1"]
        assert n3.requests() == []
        assert {i for _, i in n1.items} == {"n1"}

    def test_direct_requests_reach_only_their_targets(self, contract: Contract) -> None:
        c = contract.collective()
        nodes = {name: contract.node(name, [c], ["rpcutil"])[1]
                 for name in ("n1", "n2", "n3")}
        client, _, _ = contract.client("client", c)

        client.publish_request(b"d13", collective=c, agent="rpcutil", ttl=60,
                               targets=["n1", "n3", "absent"])
        contract.fence(client, c, nodes)

        assert nodes["n1"].requests() == [b"d13"]
        assert nodes["n3"].requests() == [b"d13"]
        assert nodes["n2"].requests() == []
        assert nodes["n1"].requests("n1") == [b"d13"]

    def test_replies_reach_only_their_client(self, contract: Contract) -> None:
        c = contract.collective()
        node, _ = contract.node("n1", [c], ["rpcutil"])
        _, inbox_a, reply_a = contract.client("alice", c)
        _, inbox_b, reply_b = contract.client("bob", c)
        assert reply_a != reply_b

        node.publish_reply(b"for-a", reply_a, ttl=60)
        node.publish_reply(b"for-b", reply_b, ttl=60)
        node.publish_reply(b"for-a-2", reply_a, ttl=60)

        assert inbox_a.wait_for(lambda items: len(items) >= 2)
        assert inbox_b.wait_for(lambda items: len(items) >= 1)
        node.publish_reply(b"last-a", reply_a, ttl=60)
        assert inbox_a.wait_for(lambda items: (b"last-a", None) in items)
        if contract.factory.grace:
            time.sleep(contract.factory.grace)
        assert sorted(inbox_a.items) == sorted([(b"for-a", None), (b"for-a-2", None),
                                                (b"last-a", None)])
        assert inbox_b.items == [(b"for-b", None)]

    def test_one_collectives_traffic_never_reaches_another(self, contract: Contract
                                                           ) -> None:
        """Sub-collectives: a node answers in each collective it belongs to, and only
        there; the same identity in two collectives is two subscriptions."""
        c1, c2 = contract.collective(), contract.collective()
        _, only1 = contract.node("only1", [c1], ["rpcutil"])
        _, both = contract.node("both", [c1, c2], ["rpcutil"])
        _, only2 = contract.node("only2", [c2], ["rpcutil"])
        client, _, _ = contract.client("client", c1)

        client.publish_request(b"b1", collective=c1, agent="rpcutil", ttl=60)
        client.publish_request(b"b2", collective=c2, agent="rpcutil", ttl=60)
        client.publish_request(b"d2", collective=c2, agent="rpcutil", ttl=60,
                               targets=["only1", "both", "only2"])
        contract.fence(client, c1, {"only1": only1, "both": both})
        contract.fence(client, c2, {"both": both, "only2": only2})

        assert only1.requests() == [b"b1"]
        assert sorted(both.requests()) == [b"b1", b"b2", b"d2"]
        assert sorted(only2.requests()) == [b"b2", b"d2"]

    def test_one_connector_serves_many_identities(self, contract: Contract) -> None:
        c = contract.collective()
        host = contract.connector("host", [c])
        inbox = Inbox()
        host.start(inbox)
        for name, agents in (("e1", ["rpcutil"]), ("e2", ["rpcutil", "package"]),
                             ("e3", ["package"])):
            host.subscribe_node(name, [c], [*agents, FENCE_AGENT])
        client, _, _ = contract.client("client", c)

        client.publish_request(b"b", collective=c, agent="rpcutil", ttl=60)
        client.publish_request(b"d", collective=c, agent="rpcutil", ttl=60, targets=["e3"])
        contract.fence(client, c, {"e1": inbox, "e2": inbox, "e3": inbox})
        got = sorted((b, i) for b, i in inbox.items if not b.startswith(b"fence:"))
        assert got == [(b"b", "e1"), (b"b", "e2"), (b"d", "e3")]

    def test_subscriptions_change_while_consuming(self, contract: Contract) -> None:
        c1, c2 = contract.collective(), contract.collective()
        node, inbox = contract.node("n1", [c1, c2], ["a", "b"])
        client, _, _ = contract.client("client", c1)

        node.subscribe_node("n1", [c1], ["b", "c", FENCE_AGENT])  # reload
        for agent in ("a", "b", "c"):
            client.publish_request(agent.encode(), collective=c1, agent=agent, ttl=60)
        client.publish_request(b"c2", collective=c2, agent="b", ttl=60)
        client.publish_request(b"c2d", collective=c2, agent="b", ttl=60, targets=["n1"])
        contract.fence(client, c1, {"n1": inbox})
        assert sorted(inbox.requests()) == [b"b", b"c"]

        node.unsubscribe_node("n1")
        node.subscribe_node("n2", [c1], ["a", FENCE_AGENT])
        client.publish_request(b"gone", collective=c1, agent="b", ttl=60, targets=["n1"])
        client.publish_request(b"a2", collective=c1, agent="a", ttl=60)
        contract.fence(client, c1, {"n2": inbox})
        assert sorted(inbox.requests()) == [b"a2", b"b", b"c"]
        assert inbox.requests("n2") == [b"a2"]

    def test_handler_errors_never_stop_consumption(self, contract: Contract) -> None:
        c = contract.collective()
        inbox = Inbox()

        def flaky(body: bytes, identity: str | None) -> None:
            inbox(body, identity)
            if body.startswith(b"boom"):
                raise RuntimeError("handler bug")

        contract.node("n1", [c], ["rpcutil"], handler=flaky)
        client, _, _ = contract.client("client", c)
        for body in (b"boom1", b"ok1", b"boom2", b"ok2"):
            client.publish_request(body, collective=c, agent="rpcutil", ttl=60,
                                   targets=["n1"])
        assert inbox.wait_for(lambda items: len(items) >= 4)
        assert sorted(inbox.requests()) == [b"boom1", b"boom2", b"ok1", b"ok2"]

    # --- the daemon on this connector ------------------------------------------------

    def test_stale_requests_are_dropped(self, contract: Contract) -> None:
        """Only RabbitMQ expires messages itself; everywhere the daemon checks the
        request's own time and ttl, so a stale request is never acted on."""
        from mcollective.client.session import ClientSession
        from mcollective.server.daemon import Daemon

        factory = contract.factory
        c = contract.collective()
        daemon = Daemon(factory.config("d1", [c], role="server"), plugins=factory.plugins)
        daemon.start()
        session = ClientSession(factory.config("client", [c]), plugins=factory.plugins)
        try:
            session.connect()
            stale = session.new_request("rpcutil", "ping", collective=c)
            stale.time -= 3600
            stale_direct = session.new_request("rpcutil", "ping", collective=c)
            stale_direct.time -= 3600
            fresh = session.new_request("rpcutil", "ping", collective=c)
            queues = {r.id: session.expect(r.id) for r in (stale, stale_direct, fresh)}
            session.publish(stale)
            session.publish(stale_direct, targets=["d1"])
            session.publish(fresh)
            reply = queues[fresh.id].get(timeout=20)
            assert reply.sender == "d1" and reply.statuscode == 0
            assert wait_until(lambda: daemon.stats["ttlexpired"] >= 2)
            if factory.grace:
                time.sleep(factory.grace)
            assert queues[stale.id].empty() and queues[stale_direct.id].empty()
            assert daemon.stats["passed"] == 1
        finally:
            session.close()
            daemon.stop(timeout=2)

    # --- nothing left behind, nothing lost ----------------------------------------------

    def test_closed_consumers_leave_nothing_behind(self, contract: Contract) -> None:
        c = contract.collective()
        node, _ = contract.node("n1", [c], ["rpcutil"])
        client, _, reply_to = contract.client("client", c)
        if contract.factory.leftovers(c) is None:
            pytest.skip("this middleware cannot be inspected")
        node.close()
        client.close()
        assert contract.factory.leftovers(c) == set()
        # Publishing to what is gone re-creates nothing.
        other, _, _ = contract.client("other", c)
        other.publish_request(b"late", collective=c, agent="rpcutil", ttl=60)
        other.publish_request(b"late", collective=c, agent="rpcutil", ttl=60,
                              targets=["n1"])
        other.publish_reply(b"late", reply_to, ttl=60)
        other.close()
        assert contract.factory.leftovers(c) == set()

    def test_crashed_consumers_leave_nothing_behind(self, contract: Contract) -> None:
        c = contract.collective()
        node, _ = contract.node("n1", [c], ["rpcutil"])
        crashed_client, _, reply_to = contract.client("client", c)
        if contract.factory.leftovers(c) is None:
            pytest.skip("this middleware cannot be inspected")
        if not contract.factory.crash(node):
            pytest.skip("this transport cannot simulate a crash in-process")
        assert contract.factory.crash(crashed_client)
        other, _, _ = contract.client("other", c)
        for _ in range(5):  # requests to the dead node must not pile up
            other.publish_request(b"b", collective=c, agent="rpcutil", ttl=60)
            other.publish_request(b"d", collective=c, agent="rpcutil", ttl=60,
                                  targets=["n1"])
            other.publish_reply(b"r", reply_to, ttl=60)
        other.close()

        def clean() -> bool:
            contract.factory.sweep()
            return contract.factory.leftovers(c) == set()

        assert wait_until(clean, timeout=contract.factory.sweep_timeout, step=0.25), \
            f"left behind: {contract.factory.leftovers(c)}"

    def test_transport_garbage_is_counted_and_dropped(self, contract: Contract) -> None:
        """Garbage on every path into a node (not JSON, not the envelope, wrong types,
        binary, huge: :data:`~mcollective.testing.hostile.GARBAGE`) is either handed to
        the handler as a body or counted as ``malformed`` (and reported through
        ``on_malformed``), exactly once each; it is never taken for a lost
        connection, and normal messages keep arriving."""
        from mcollective.testing.hostile import GARBAGE

        collective = contract.collective()
        node, inbox = contract.node("garbage1", [collective], ["echo"])
        client, _, _ = contract.client("garbagec", collective)
        reported: list[str] = []
        node.on_malformed = reported.append
        contract.fence(client, collective, {"garbage1": inbox})
        before = dict(node.stats)
        injected = 0
        for _name, payload in GARBAGE:
            made = contract.factory.inject(node, collective, "garbage1", "echo", payload)
            if not made:
                pytest.skip("this transport cannot be written to raw by the tests")
            injected += made

        def accounted() -> int:
            return (len(inbox.requests("garbage1"))
                    + node.stats.get("malformed", 0) - before.get("malformed", 0))

        assert wait_until(lambda: accounted() >= injected, timeout=60), \
            f"{injected} garbage messages injected, {accounted()} accounted for"
        contract.fence(client, collective, {"garbage1": inbox})
        assert accounted() == injected
        assert len(reported) == node.stats.get("malformed", 0) - before.get("malformed", 0)
        assert node.stats.get("disconnects", 0) == before.get("disconnects", 0), \
            "garbage was taken for a broken connection"
        client.publish_request(b"after-garbage", collective=collective, agent="echo", ttl=60)
        assert inbox.wait_for(lambda items: (b"after-garbage", "garbage1") in items)

    def test_nothing_lost_across_many_requests(self, contract: Contract) -> None:
        """1,000 requests, half broadcast to two nodes, half addressed in turn; every
        node answers each; every reply arrives exactly once."""
        c = contract.collective()
        count = contract.factory.bulk_requests
        nodes: dict[str, Connector] = {}

        def serve(identity: str) -> Callable[[bytes, str | None], None]:
            def handler(body: bytes, target: str | None) -> None:
                if body.startswith(b"fence:"):
                    return
                reply_to, _, token = body.partition(b"|")
                nodes[identity].publish_reply(f"{target}|".encode() + token,
                                              reply_to.decode(), ttl=60)
            return handler

        for name in ("n1", "n2"):
            nodes[name] = contract.connector(name, [c])
            nodes[name].start(serve(name))
            nodes[name].subscribe_node(name, [c], ["echo", FENCE_AGENT])
        client, inbox, reply_to = contract.client("client", c)

        expected: list[bytes] = []
        for i in range(count):
            body = f"{reply_to}|{i}".encode()
            if i % 2:
                target = "n1" if i % 4 == 1 else "n2"
                client.publish_request(body, collective=c, agent="echo", ttl=120,
                                       targets=[target])
                expected.append(f"{target}|{i}".encode())
            else:
                client.publish_request(body, collective=c, agent="echo", ttl=120)
                expected += [f"n1|{i}".encode(), f"n2|{i}".encode()]
        done = inbox.wait_for(lambda items: len(items) >= len(expected), timeout=120)
        if contract.factory.grace:
            time.sleep(contract.factory.grace)
        got = sorted(b for b, _ in inbox.items)
        missing = sorted(set(expected) - set(got))
        assert done and not missing, f"{len(missing)} replies lost, e.g. {missing[:5]}"
        assert got == sorted(expected), "duplicated replies"


__all__ = [
    "FENCE_AGENT",
    "ConnectorContract",
    "ConnectorFactory",
    "Contract",
    "ContractSecurity",
    "Inbox",
    "SecurityContract",
    "SecurityFactory",
    "wait_until",
]
