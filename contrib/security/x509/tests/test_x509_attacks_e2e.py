"""Attacks on three real daemons guarded by the x509 security plugin (and the logfile
audit), sent straight to the nodes' queues over the real transport, bypassing the
client's own checks; and forged replies sent to a real client's reply queue.

Every hostile request must be rejected by every node, counted in ``daemon_stats``
(``unvalidated``, or ``replayed`` for a replay) and never executed: every action a node
runs is audited *before* it runs and answered to the request's ``reply_to`` (here our
own client's queue), so an attack id absent from the audit logs, with no reply, never
ran. Forged replies must be dropped and counted by the client.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from x509_helpers import TestCA, new_key, write_identity

from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.connector import Connector
from mcollective.message import Reply, Request, empty_filter, wrap_secure
from mcollective.plugins import make_plugin_manager
from mcollective.testing import LocalCollective
from mcollective_security_x509 import pki

pytestmark = pytest.mark.slow

NODES = ("web1.example.net", "web2.example.net", "db1.example.net")
COLLECTIVE = "mcollective"
CLIENTS = "admin, alice, carol"


class CapturingSession(ClientSession):
    """A real client session that also keeps the raw bytes of every reply it receives
    (so the test can look at the signatures, and replay or alter a genuine reply)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw: list[bytes] = []

    def _on_message(self, body: bytes, identity: str | None) -> None:
        self.raw.append(body)
        super()._on_message(body, identity)


class X509Fleet:
    """Three daemons with certificates from one CA (laid out as a Puppet ssldir), the
    logfile audit, clients admin and alice, a client session on the real transport and
    an attacker's own raw connection."""

    def __init__(self, collective: LocalCollective, root: Path) -> None:
        self.collective = collective
        self.ca = TestCA("Site")
        self.other_ca = TestCA("Other")
        self.ssldir = root / "ssl"
        for name in (*NODES, "admin", "alice"):
            self.ca.issue(name)
        # carol may send requests, but her certificate is revoked before nodes start.
        _, carol = self.ca.issue("carol")
        self.ca.revoke(carol)
        self.ca.write_ssldir(self.ssldir, *NODES, "admin", "alice", "carol")
        collective.extra_config = {
            "securityprovider": "x509",
            "plugin.psk": None,  # rendered as absent
            "plugin.x509.ssldir": str(self.ssldir),
            "plugin.x509.clients": CLIENTS,
        }
        for identity in NODES:
            self.collective.add_node(identity, wait=False, settings={
                "rpcaudit": 1, "rpcauditprovider": "logfile",
                "plugin.rpcaudit.logfile": str(self.audit_log(identity)),
            })
        self.alice_cfg = self.collective.write_client_config(
            "alice.cfg", **{"plugin.x509.certname": "alice"})
        self.collective.client_config = self.collective.write_client_config(
            "admin.cfg", **{"plugin.x509.certname": "admin"})
        for node in self.collective.nodes.values():
            self.collective.wait_ready(node)
        self.session = CapturingSession(load_config(self.alice_cfg))
        self.session.connect()
        self.attacker: Connector = make_plugin_manager().create_connector(
            load_config(self.alice_cfg))
        self.attacker.connect(timeout=10)

    def audit_log(self, identity: str) -> Path:
        return self.collective.root / "audit" / f"{identity}.log"

    def close(self) -> None:
        try:
            self.session.close()
        finally:
            self.attacker.close()

    # --- hostile traffic ------------------------------------------------------------

    def request(self, action: str = "ping", *, caller: str = "cert=alice",
                agent: str = "rpcutil") -> Request:
        """A request as a client would build it, answered to our session's queue (so
        anything a node ran would come back to us)."""
        flt = empty_filter()
        flt["agent"] = [agent]
        return Request(agent=agent, collective=COLLECTIVE, sender="mallory",
                       caller=caller, message={"action": action, "data": {}},
                       filter=flt, ttl=60, reply_to=self.session.reply_to)

    def identity(self, name: str) -> tuple[Any, Any]:
        return self.ca.issued[name]

    @staticmethod
    def sign(message: Request | Reply, key: Any, cert: Any) -> bytes:
        """Sign the exact payload with ``key`` and attach ``cert``, as the x509 provider
        does, but without any of its own checks."""
        payload = message.to_json()
        kind = "request" if isinstance(message, Request) else "reply"
        return wrap_secure(kind, payload, "x509", {
            "certificate": pki.encode_certificate(cert),
            "signature": pki.sign(key, payload.encode()).hex()})

    def send(self, body: bytes) -> None:
        self.attacker.publish_request(body, collective=COLLECTIVE, agent="rpcutil",
                                      ttl=60, targets=list(NODES))

    def send_reply(self, body: bytes) -> None:
        assert self.session.reply_to is not None
        self.attacker.publish_reply(body, self.session.reply_to, ttl=60)

    # --- observation ----------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, Any]]:
        """``mco rpc rpcutil daemon_stats -j`` by the admin: one call, every node."""
        proc = self.collective.mco("rpc", "rpcutil", "daemon_stats", "--json-format", "mcollective")
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
        results = json.loads(proc.stdout)
        assert sorted(r["sender"] for r in results) == sorted(NODES)
        return {r["sender"]: r["data"] for r in results}

    def audited(self, identity: str, request_id: str) -> list[dict[str, Any]]:
        try:
            text = self.audit_log(identity).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [r for r in map(json.loads, text.splitlines())
                if r["request_id"] == request_id]

    def log(self, identity: str) -> str:
        return self.collective.nodes[identity].log()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[X509Fleet]:
    root = tmp_path_factory.mktemp("x509-attacks")
    collective = LocalCollective(root / "collective")
    try:
        fleet = X509Fleet(collective, root)
        yield fleet
        fleet.close()
    finally:
        collective.stop_all()


def deltas(fleet: X509Fleet, before: dict[str, dict[str, Any]],
           done: Callable[[dict[str, int]], bool], timeout: float = 30
           ) -> dict[str, dict[str, int]]:
    """Poll daemon_stats until ``done`` holds for every node's counter deltas."""
    deadline = time.monotonic() + timeout
    while True:
        after = fleet.stats()
        out = {identity: {k: after[identity][k] - v for k, v in before[identity].items()
                          if isinstance(v, int) and not isinstance(v, bool)}
               for identity in NODES}
        if all(done(d) for d in out.values()) or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def no_replies(waiting: dict[str, queue.Queue[Reply]]) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for request_id, q in waiting.items():
        while not q.empty():
            got.setdefault(request_id, []).append(q.get_nowait().sender)
    return got


# --- the positive path -------------------------------------------------------------


def test_valid_client_gets_signed_replies_from_every_node(fleet: X509Fleet) -> None:
    proc = fleet.collective.mco("rpc", "rpcutil", "ping",
                                "--json-format", "mcollective", config=fleet.alice_cfg)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    results = json.loads(proc.stdout)
    assert sorted(r["sender"] for r in results) == sorted(NODES)
    assert all(r["statuscode"] == 0 and "pong" in r["data"] for r in results)

    # The same through a session on the real transport, looking at the wire: each
    # reply carries its node's own certificate and a signature by that node's key.
    session = fleet.session
    before = dict(session.counters)
    request = session.new_request("rpcutil", "ping", filter=fleet.request().filter)
    replies = session.expect(request.id)
    session.publish(request)
    got = [replies.get(timeout=30) for _ in NODES]
    assert sorted(r.sender for r in got) == sorted(NODES)
    assert session.counters["unverified"] == before["unverified"]
    bodies = [b for b in session.raw if request.id.encode() in b]
    assert len(bodies) == len(NODES)
    for body in bodies:
        outer = json.loads(body)
        sender = json.loads(outer["reply"])["sender"]
        cert = pki.decode_certificate(outer["certificate"])
        assert cert == fleet.identity(sender)[1]
        assert pki.verify(pki.public_key_of(cert), bytes.fromhex(outer["signature"]),
                          outer["reply"].encode())


# --- hostile requests ----------------------------------------------------------------


def test_hostile_requests_are_rejected_counted_and_never_run(fleet: X509Fleet) -> None:
    mallory = new_key()
    alice_key, alice_cert = fleet.identity("alice")
    attacks: dict[str, tuple[bytes, str]] = {}  # request id -> (body, why refused)

    def attack(why: str, request: Request, body: bytes) -> None:
        attacks[request.id] = (body, why)

    # 1. Forged signature: alice's genuine certificate (it is public), another key.
    r = fleet.request("inventory")
    attack("does not match its signature", r, fleet.sign(r, mallory, alice_cert))

    # 2. Tampered after signing: alice signs a ping; each field is then changed to
    #    something every other check would accept.
    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "filter": lambda p: p["filter"].update(identity=[NODES[0]]),
        "agent": lambda p: p.update(agent="discovery"),
        "action": lambda p: p["message"].update(action="get_config_item",
                                                data={"item": "identity"}),
        "data": lambda p: p["message"].update(data={"x": 1}),
        "ttl": lambda p: p.update(ttl=p["ttl"] + 3600),
        "time": lambda p: p.update(time=p["time"] + 1),
        "collective": lambda p: p.update(collective="other"),
        "sender": lambda p: p.update(sender="someone"),
        "reply_to": lambda p: p.update(reply_to=p["reply_to"] + ".x"),
    }
    for change in changes.values():
        r = fleet.request()
        outer = json.loads(fleet.sign(r, alice_key, alice_cert))
        payload = json.loads(outer["request"])
        change(payload)
        outer["request"] = json.dumps(payload)
        attack("does not match its signature", r, json.dumps(outer).encode())
    #    ...and the caller: alice's signed request, now claiming to come from admin.
    r = fleet.request()
    outer = json.loads(fleet.sign(r, alice_key, alice_cert))
    payload = json.loads(outer["request"])
    payload["caller"] = "cert=admin"
    outer["request"] = json.dumps(payload)
    attack("claims caller 'cert=admin', but its certificate belongs to 'cert=alice'", r,
           json.dumps(outer).encode())

    # 3. A certificate named alice from another CA, with its own key.
    other_key, other_cert = fleet.other_ca.issue("alice", store=False)
    r = fleet.request()
    attack("is not issued by a CA of", r, fleet.sign(r, other_key, other_cert))

    # 4. Expired: a certificate of the site's CA for alice that ran out last month.
    old_key, old_cert = fleet.ca.issue("alice", valid_from=time.time() - 60 * 86400,
                                       days=30, store=False)
    r = fleet.request()
    attack("expired at", r, fleet.sign(r, old_key, old_cert))

    # 5. Not yet valid: from tomorrow, far beyond the 30 s clock_skew.
    new_key_, early = fleet.ca.issue("alice", valid_from=time.time() + 86400,
                                     store=False)
    r = fleet.request()
    attack("is not valid before", r, fleet.sign(r, new_key_, early))

    # 6. Revoked: carol is in plugin.x509.clients, her certificate is on the CRL.
    carol_key, carol_cert = fleet.identity("carol")
    r = fleet.request(caller="cert=carol")
    attack("is revoked by CN=Site CA", r, fleet.sign(r, carol_key, carol_cert))

    # 7. A node's certificate used as a client: not in plugin.x509.clients.
    node_key, node_cert = fleet.identity(NODES[0])
    r = fleet.request(caller=f"cert={NODES[0]}")
    attack("may not send requests", r, fleet.sign(r, node_key, node_cert))

    # 7b. ...or in its node name, for something other than its registration.
    r = fleet.request("inventory", caller=f"identity={NODES[0]}")
    attack("may only send registration requests", r, fleet.sign(r, node_key, node_cert))

    # 8. alice, with her own key and certificate, claims to be admin.
    r = fleet.request(caller="cert=admin")
    attack("but its certificate belongs to 'cert=alice'", r,
           fleet.sign(r, alice_key, alice_cert))

    # 9. The CA's own certificate and key (a stolen intermediate key signs directly).
    r = fleet.request(caller="cert=Site CA")
    attack("is a CA certificate", r, fleet.sign(r, fleet.ca.key, fleet.ca.cert))

    waiting = {request_id: fleet.session.expect(request_id) for request_id in attacks}
    before = fleet.stats()
    for body, _ in attacks.values():
        fleet.send(body)
    n = len(attacks)
    delta = deltas(fleet, before, lambda d: d["unvalidated"] >= n)
    time.sleep(0.5)  # anything a node had wrongly run would have answered by now

    for identity in NODES:
        d = delta[identity]
        assert d["unvalidated"] == n, (identity, d)
        # Every message besides the attacks (our own daemon_stats calls) validated.
        assert d["total"] - d["validated"] == n, (identity, d)
        assert d["passed"] == d["replies"], (identity, d)  # only our calls answered
        assert d["errors"] == 0, (identity, d)
        log = fleet.log(identity)
        for request_id, (_, why) in attacks.items():
            assert fleet.audited(identity, request_id) == [], (identity, request_id)
            lines = [line for line in log.splitlines()
                     if "rejected request" in line and request_id in line]
            assert len(lines) == 1 and why in lines[0], (identity, why, lines)
    assert no_replies(waiting) == {}
    for request_id in attacks:
        fleet.session.forget(request_id)

    # Every node still answers.
    proc = fleet.collective.mco("rpc", "rpcutil", "ping",
                                "--json-format", "mcollective", config=fleet.alice_cfg)
    assert sorted(r["sender"] for r in json.loads(proc.stdout)) == sorted(NODES)


def test_replay_inside_ttl_is_refused_counted_and_audited(fleet: X509Fleet) -> None:
    request = fleet.request()
    body = fleet.sign(request, *fleet.identity("alice"))
    replies = fleet.session.expect(request.id)
    before = fleet.stats()
    fleet.send(body)
    first = [replies.get(timeout=30) for _ in NODES]
    assert sorted(r.sender for r in first) == sorted(NODES)
    assert all(r.statuscode == 0 and "pong" in r.data for r in first)
    fleet.send(body)
    fleet.send(body)
    delta = deltas(fleet, before, lambda d: d["replayed"] >= 2)
    time.sleep(0.5)
    with pytest.raises(queue.Empty):
        replies.get_nowait()
    fleet.session.forget(request.id)
    for identity in NODES:
        d = delta[identity]
        assert d["replayed"] == 2 and d["unvalidated"] == 0, (identity, d)
        assert d["passed"] == d["replies"], (identity, d)
        records = fleet.audited(identity, request.id)
        assert [(r["authorized"], r["status"]) for r in records] == [
            (None, None), (False, None), (False, None)], (identity, records)
        assert all(r["reason"].startswith("replayed") for r in records[1:])
        assert all(r["caller"] == "cert=alice" for r in records)


# --- forged replies ------------------------------------------------------------------


def test_forged_replies_are_dropped_and_counted_by_the_client(
        fleet: X509Fleet, caplog: pytest.LogCaptureFixture) -> None:
    session = fleet.session
    request = session.new_request("rpcutil", "ping", filter=fleet.request().filter)
    replies = session.expect(request.id)
    session.publish(request)
    genuine = [replies.get(timeout=30) for _ in NODES]
    assert sorted(r.sender for r in genuine) == sorted(NODES)
    target = NODES[0]
    [captured] = [b for b in session.raw if request.id.encode() in b
                  and json.loads(json.loads(b)["reply"])["sender"] == target]

    mallory = new_key()
    _, target_cert = fleet.identity(target)  # the certificate is public; the key is not
    other_node_key, other_node_cert = fleet.identity(NODES[1])
    foreign_key, foreign_cert = fleet.other_ca.issue(target, store=False)
    expired_key, expired_cert = fleet.ca.issue(target, valid_from=time.time() - 60 * 86400,
                                               days=30, store=False)

    def reply() -> Reply:
        return Reply(request=request.id, sender=target, agent="rpcutil",
                     data={"pong": 1, "forged": True})

    outer = json.loads(captured)
    altered = json.loads(outer["reply"])
    altered["message"]["data"]["forged"] = True
    outer["reply"] = json.dumps(altered)
    forged = {
        # the node's real certificate, signed with another key
        "does not match its signature": fleet.sign(reply(), mallory, target_cert),
        # another node, with its own real key and certificate, answers as the target
        "a node can only sign its own replies": fleet.sign(reply(), other_node_key,
                                                           other_node_cert),
        # a certificate for the target from another CA
        "is not issued by a CA of": fleet.sign(reply(), foreign_key, foreign_cert),
        # an expired certificate of the target
        "expired at": fleet.sign(reply(), expired_key, expired_cert),
        # no certificate at all
        "carries no x509 'certificate'": wrap_secure("reply", reply().to_json(), "x509",
                                                     {"signature": "00" * 64}),
        # a genuine reply, captured, data altered
        "altered after signing": json.dumps(outer).encode(),
    }
    before = dict(session.counters)
    with caplog.at_level("WARNING", logger="mcollective.client.session"):
        for body in forged.values():
            fleet.send_reply(body)
        deadline = time.monotonic() + 30
        while (session.counters["unverified"] - before["unverified"] < len(forged)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        time.sleep(0.3)
    assert session.counters["unverified"] - before["unverified"] == len(forged)
    assert session.counters["replies"] == before["replies"]
    with pytest.raises(queue.Empty):
        replies.get_nowait()
    session.forget(request.id)
    messages = [rec.getMessage() for rec in caplog.records
                if "failed verification" in rec.getMessage()]
    for why in forged:  # the signature message also says "altered after signing"
        count = 2 if why in ("does not match its signature", "altered after signing") else 1
        assert sum(why in m for m in messages) == count, (why, messages)

    # The client still takes genuine replies afterwards.
    proc = fleet.collective.mco("rpc", "rpcutil", "ping",
                                "--json-format", "mcollective", config=fleet.alice_cfg)
    assert sorted(r["sender"] for r in json.loads(proc.stdout)) == sorted(NODES)


def test_a_node_certificate_in_the_real_mco_gets_no_answer(
        fleet: X509Fleet, tmp_path: Path) -> None:
    """A compromised node's key and certificate, in the real mco: every node refuses
    (the node is not in plugin.x509.clients)."""
    key, cert = fleet.identity(NODES[2])
    ssl = tmp_path / "ssl"
    fleet.ca.write_ca(ssl)
    write_identity(ssl, NODES[2], key, cert)
    cfg = fleet.collective.write_client_config(
        "db1.cfg", **{"plugin.x509.ssldir": str(ssl), "plugin.x509.certname": NODES[2]})
    refused = fleet.collective.mco("rpc", "rpcutil", "ping",
                                   "--json-format", "mcollective", config=cfg)
    assert json.loads(refused.stdout or "[]") == []
    assert "may not send requests" in fleet.log(NODES[0])
