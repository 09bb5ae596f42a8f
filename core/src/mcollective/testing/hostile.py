"""Hostile input every connector and daemon must survive (issue 11): garbage on the
transport, and requests whose fields are out of bounds.

Two uses:

* :data:`GARBAGE` is what :class:`~mcollective.testing.contracts.ConnectorContract`
  injects, raw, onto every transport (through :meth:`ConnectorFactory.inject`): bytes
  that are not JSON, JSON that is not the transport's envelope, envelopes with the
  wrong types, binary, a huge message. A connector must hand each one to the daemon as
  a body or count it in ``stats["malformed"]``, never take it for a broken connection,
  and keep delivering normal messages;
* :data:`HOSTILE_FIELDS` are signed requests whose fields break the documented bounds
  (``docs/security.md``): a daemon must count each one and drop it;
* :class:`HostileContract`, which every connector runs on every transport: real daemons
  keep answering a broadcast ``mco ping`` while all of the above arrives.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mcollective.client import ClientSession
    from mcollective.connector import Connector
    from mcollective.testing.collective import LocalCollective
    from mcollective.testing.contracts import ConnectorFactory

#: Largest garbage message: larger than any max_message_size default, smaller than
#: what every broker accepts (SQS takes 256 KiB; factories may shrink it).
HUGE = 200_000


def _garbage() -> list[tuple[str, bytes]]:
    binary = bytes(range(256)) * 8
    return [
        ("not json", b"this is not json {"),
        ("empty", b""),
        ("binary", binary),
        ("not utf-8", b"\xff\xfe\xfd{\"body\": 1}"),
        ("nul bytes", b"\x00" * 64),
        ("json array", b"[1, 2, 3]"),
        ("json string", b'"hello"'),
        ("json number", b"1e999"),
        ("json null", b"null"),
        ("empty object", b"{}"),
        ("deeply nested", b"[" * 50_000 + b"]" * 50_000),
        ("wrong envelope", b'{"body": 5, "properties": "x"}'),
        ("wrong types", json.dumps({
            "body": {"a": 1}, "headers": [1, 2],
            "properties": {"delivery_tag": [], "body_encoding": 7,
                           "delivery_info": "x"}}).encode()),
        ("integer body", json.dumps({
            "body": 10 ** 12, "properties": {"delivery_tag": "t", "delivery_info": {}}}
        ).encode()),
        ("bad base64", json.dumps({
            "body": "!!not base64!!", "content-type": "application/octet-stream",
            "properties": {"body_encoding": "base64", "delivery_tag": "t",
                           "delivery_info": {}}}).encode()),
        ("kombu type hook", b'{"__type__": "datetime", "__value__": 5}'),
        ("huge", b"x" * HUGE),
    ]


#: (name, raw bytes) pairs of transport garbage, in a fixed order.
GARBAGE: list[tuple[str, bytes]] = _garbage()


# --- out-of-bounds requests --------------------------------------------------------------

@dataclass(frozen=True)
class HostileRequest:
    """A request field set outside its bound, and the bound it breaks."""

    name: str
    field: str
    overrides: dict[str, Any]


#: Each breaks one documented bound (see docs/security.md, "Bounds").
HOSTILE_FIELDS: list[HostileRequest] = [
    HostileRequest("absurd ttl", "ttl", {"ttl": 10 ** 15}),
    HostileRequest("ttl above the maximum", "ttl", {"ttl": 10 * 24 * 3600}),
    HostileRequest("long reply_to", "reply_to", {"reply_to": "r" * 300}),
    HostileRequest("long agent", "agent", {"agent": "a" * 300}),
    HostileRequest("long caller", "caller", {"caller": "user=" + "c" * 5000}),
    HostileRequest("long collective", "collective", {"collective": "k" * 300}),
    HostileRequest("long sender", "sender", {"sender": "s" * 5000}),
]


def send_hostile_request(session: ClientSession, collective: str,
                         overrides: Mapping[str, Any]) -> None:
    """Publish a correctly signed ``rpcutil ping`` with ``overrides`` applied to its
    fields, without the client's own bound checks (as an attacker's client would)."""
    from mcollective.message import Request, empty_filter

    session.connect()
    request = Request(agent="rpcutil", collective=collective, sender="hostile",
                      caller=session.caller, message={"action": "ping", "data": {}},
                      filter=empty_filter(), reply_to=session.reply_to)
    for name, value in overrides.items():
        setattr(request, name, value)
    session.publish(request)


def ping_times(collective: LocalCollective, expect: int | None = None) -> dict[str, float]:
    """Run the real ``mco ping`` (a broadcast) and return each node's reply time in
    seconds. ``expect``: wait until that many nodes answered (up to 60 s) instead of
    ending at the discovery window, which a busy machine can outlast."""
    wait = ["--expect", str(expect), "-t", "60"] if expect else []
    proc = collective.mco("ping", "--connection-timeout", "10", *wait, timeout=120)
    times: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"(\S+)\s+time=([0-9.]+) ms", line)
        if match:
            times[match.group(1)] = float(match.group(2)) / 1000
    return times


def daemon_stats(collective: LocalCollective, identity: str) -> dict[str, Any]:
    """``rpcutil daemon_stats`` of one node, through the real ``mco``."""
    proc = collective.mco("rpc", "rpcutil", "daemon_stats", "-I", identity, "-j",
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [reply] = json.loads(proc.stdout)["replies"]  # -j: Choria's object
    return dict(reply["data"])


#: Categories a received message ends in, exactly one each (mcollective.server.stats).
RECEIVED = ("oversized", "malformed", "unvalidated", "validated")
#: ... and a validated request's.
VALIDATED = ("outofbounds", "ttlexpired", "filtered", "replayed", "replayfull",
             "passed")


def counting_problems(stats: Mapping[str, Any]) -> list[str]:
    """Where a daemon's counters break "every message in exactly one category"."""
    problems = []
    received = sum(int(stats[c]) for c in RECEIVED)
    if int(stats["total"]) != received:
        problems.append(f"total {stats['total']} != {' + '.join(RECEIVED)} = {received}")
    validated = sum(int(stats[c]) for c in VALIDATED)
    if int(stats["validated"]) != validated:
        problems.append(f"validated {stats['validated']} != {' + '.join(VALIDATED)} = "
                        f"{validated}")
    return problems


class HostileTraffic:
    """A thread sending hostile traffic at a collective until stopped: transport
    garbage (through :meth:`ConnectorFactory.inject`), messages over
    ``max_message_size``, and signed requests breaking each field bound."""

    def __init__(self, factory: ConnectorFactory, probe: Connector, rogue: ClientSession,
                 collective: str, identities: list[str], max_message_size: int) -> None:
        self.factory, self.probe, self.rogue = factory, probe, rogue
        self.collective, self.identities = collective, identities
        self.oversized = b"x" * (max_message_size + 1)
        self.counts = {"garbage": 0, "oversized": 0, "outofbounds": 0}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except Exception as exc:  # reported by the test, never silently lost
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.5)

    def _round(self) -> None:
        for identity in self.identities:
            for _name, payload in GARBAGE:
                made = self.factory.inject(self.probe, self.collective, identity,
                                           "rpcutil", payload)
                self.counts["garbage"] += made
        self.probe.publish_request(self.oversized, collective=self.collective,
                                   agent="rpcutil", ttl=60)
        self.counts["oversized"] += 1
        for case in HOSTILE_FIELDS:
            if case.field in ("agent", "collective"):
                continue  # no broker routes these: the publish itself is refused
            send_hostile_request(self.rogue, self.collective, case.overrides)
            self.counts["outofbounds"] += 1
        self._stop.wait(0.05)

    def __enter__(self) -> HostileTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class HostileContract:
    """Real daemons on one transport keep answering while hostile traffic runs.

    Subclass per transport and override ``connector_factory`` exactly as for
    :class:`~mcollective.testing.contracts.ConnectorContract` (the same factory
    class serves both: its :meth:`settings` configure the daemons, its
    :meth:`inject` puts garbage on the wire). What is checked, with two real
    ``mcollectived`` processes and the real ``mco``: while transport garbage,
    oversized messages and signed requests breaking every field bound arrive, a
    broadcast ``mco ping`` gets every node's reply within :attr:`answer_bound`
    seconds each time, and so do pings while catastrophic patterns in every filter
    position arrive too (:mod:`mcollective.testing.hostile_patterns`); afterwards
    both daemons are alive, counted the hostile messages (``malformed``,
    ``oversized``, ``outofbounds``) and every message they received is in exactly
    one ``daemon_stats`` category."""

    #: Seconds each node's reply to a ping may take while hostile traffic runs
    #: (generous: the machine running the tests is busy; issue 11 measured 2 s).
    answer_bound: float = 5.0
    #: Pings sent while the hostile traffic runs.
    rounds: int = 5
    #: Seconds a ping may take to get every reply while catastrophic patterns flood
    #: the nodes on top of the rest (as generous as the pattern suite's own tests).
    pattern_bound: float = 15.0
    #: The daemons' ``max_message_size``.
    max_message_size: int = 65536

    @pytest.fixture
    def connector_factory(self) -> Iterator[ConnectorFactory]:
        raise NotImplementedError("override the connector_factory fixture")

    def test_daemons_keep_answering_under_hostile_traffic(
            self, connector_factory: ConnectorFactory, tmp_path: Path) -> None:
        from mcollective.client import ClientSession
        from mcollective.config import load_config
        from mcollective.testing.collective import LocalCollective
        from mcollective.testing.contracts import FENCE_AGENT
        from mcollective.testing.hostile_patterns import check_answers_under_hostile_patterns

        settings = dict(connector_factory.settings("hostile"))
        connector = settings.pop("connector")
        url = settings.pop(f"plugin.{connector}.url")
        name = f"x{uuid.uuid4().hex[:10]}"
        nodes = ["hostile1", "hostile2"]
        # Small enough that a message just over it fits every broker (SNS: 256 KiB).
        settings["max_message_size"] = self.max_message_size
        with LocalCollective(tmp_path / "collective", connector=connector,
                             connector_url=url, collectives=(name,),
                             extra_config=settings) as collective:
            for identity in nodes:
                collective.add_node(identity, wait=False)
            for node in collective.nodes.values():
                collective.wait_ready(node)
            assert set(ping_times(collective, expect=len(nodes))) == set(nodes)
            probe = connector_factory.create("hostile-probe", [name])
            probe.connect(timeout=15)
            probe.start(lambda body, identity: None)
            probe.subscribe_node("hostile-probe", [name], [FENCE_AGENT])
            rogue = ClientSession(load_config(collective.client_config, role="client"))
            try:
                with HostileTraffic(connector_factory, probe, rogue, name, nodes,
                                    self.max_message_size) as traffic:
                    for _ in range(self.rounds):
                        times = ping_times(collective, expect=len(nodes))
                        assert set(times) == set(nodes), \
                            f"only {sorted(times)} answered while hostile traffic ran"
                        slow = {n: t for n, t in times.items() if t > self.answer_bound}
                        assert not slow, f"replies slower than {self.answer_bound}s: {slow}"
                    # And catastrophic patterns in every filter position, on top.
                    report = check_answers_under_hostile_patterns(
                        rogue, nodes, rounds=2, ping_timeout=30.0, agents=())
                    assert report.every_ping_answered_within(self.pattern_bound), \
                        report.describe()
                assert not traffic.errors, traffic.errors
                assert traffic.counts["garbage"] or traffic.counts["oversized"]
            finally:
                rogue.close()
                probe.close()
            for identity in nodes:
                stats = daemon_stats(collective, identity)
                assert collective.nodes[identity].alive()
                assert stats["oversized"] > 0 and stats["outofbounds"] > 0, stats
                if traffic.counts["garbage"]:
                    assert stats["malformed"] > 0, stats
                assert not counting_problems(stats), counting_problems(stats)
