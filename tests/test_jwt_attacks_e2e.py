"""Attacks on three real daemons guarded by the jwt security plugin (and the logfile
audit), sent straight to the nodes' queues over the real transport, bypassing the
client's own pre-checks.

Every hostile request must be rejected by every node, counted in ``daemon_stats``
(``unvalidated``, or ``replayed`` for a replay), audited where the node got far enough
to know who asked (the replay), and never executed: every action a node runs is audited
*before* it runs and answered to the request's ``reply_to`` (here our own client's
queue), so an attack id absent from the audit logs, with no reply, never ran. Forged
replies published to a client's reply queue must be dropped and counted by the client.
"""

from __future__ import annotations

import hashlib
import json
import queue
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.connector import Connector
from mcollective.message import Reply, Request, empty_filter, wrap_secure
from mcollective.plugins import make_plugin_manager
from mcollective.testing import LocalCollective
from mcollective_security_jwt import keys, tokens

NODES = ("web1.example.net", "web2.example.net", "db1.example.net")
HOUR = timedelta(hours=1)
COLLECTIVE = "mcollective"


class CapturingSession(ClientSession):
    """A real client session that also keeps the raw bytes of every reply it receives
    (so the test can look at the signatures, and replay or alter a genuine reply)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw: list[bytes] = []

    def _on_message(self, body: bytes, identity: str | None) -> None:
        self.raw.append(body)
        super()._on_message(body, identity)


class JwtFleet:
    """Three jwt daemons with the logfile audit, an admin and two callers, a client
    session on the real transport and an attacker's own raw connection."""

    def __init__(self, collective: LocalCollective, pki: Path) -> None:
        self.collective = collective
        self.pki = pki
        self.pki.mkdir(parents=True)
        self.issuer = keys.generate()
        issuer_pub = keys.write_key_pair(self.pki / "issuer.key", self.issuer)
        collective.extra_config = {
            "securityprovider": "jwt",
            "plugin.psk": None,  # rendered as absent
            "plugin.jwt.issuer_public_key": str(issuer_pub),
        }
        self.node_keys: dict[str, tuple[Ed25519PrivateKey, str]] = {}
        for identity in NODES:
            key = keys.generate()
            token = tokens.issue_server(self.issuer, identity=identity,
                                        collectives=[COLLECTIVE],
                                        public_key=keys.public_hex(key), validity=HOUR)
            key_path, token_path = self._write(identity, key, token)
            self.node_keys[identity] = (key, token)
            self.collective.add_node(identity, wait=False, settings={
                "plugin.jwt.private_key": str(key_path),
                "plugin.jwt.token": str(token_path),
                "rpcaudit": 1, "rpcauditprovider": "logfile",
                "plugin.rpcaudit.logfile": str(self.audit_log(identity)),
            })
        # alice may only ping; bob may call all of rpcutil; admin reads daemon_stats.
        self.alice_cfg, self.alice_key, self.alice_token = self.client("alice",
                                                                       ("rpcutil.ping",))
        _, self.bob_key, self.bob_token = self.client("bob", ("rpcutil.*",))
        admin_cfg, _, _ = self.client("admin", ("*",))
        self.collective.client_config = admin_cfg  # what collective.mco uses
        for node in self.collective.nodes.values():
            self.collective.wait_ready(node)
        self.session = CapturingSession(load_config(self.alice_cfg))
        self.session.connect()
        self.attacker: Connector = make_plugin_manager().create_connector(
            load_config(self.alice_cfg))
        self.attacker.connect(timeout=10)

    def _write(self, name: str, key: Ed25519PrivateKey, token: str) -> tuple[Path, Path]:
        key_path = self.pki / f"{name}.key"
        keys.write_key_pair(key_path, key)
        token_path = self.pki / f"{name}.token"
        token_path.write_text(token + "\n", encoding="utf-8")
        return key_path, token_path

    def client(self, name: str, agents: tuple[str, ...]
               ) -> tuple[Path, Ed25519PrivateKey, str]:
        key = keys.generate()
        token = self.client_token(key, callerid=f"jwt={name}", agents=agents)
        key_path, token_path = self._write(name, key, token)
        cfg = self.collective.write_client_config(f"{name}.cfg", **{
            "plugin.jwt.private_key": str(key_path), "plugin.jwt.token": str(token_path)})
        return cfg, key, token

    def client_token(self, key: Ed25519PrivateKey, *, callerid: str = "jwt=alice",
                     agents: tuple[str, ...] = ("rpcutil.ping",),
                     issuer: Ed25519PrivateKey | None = None,
                     now: float | None = None) -> str:
        return tokens.issue_client(issuer or self.issuer, callerid=callerid, agents=agents,
                                   public_key=keys.public_hex(key), validity=HOUR, now=now)

    def audit_log(self, identity: str) -> Path:
        return self.collective.root / "audit" / f"{identity}.log"

    def close(self) -> None:
        try:
            self.session.close()
        finally:
            self.attacker.close()

    # --- hostile traffic ------------------------------------------------------------

    def request(self, action: str = "ping", *, caller: str = "jwt=alice",
                agent: str = "rpcutil") -> Request:
        """A request as a client would build it, answered to our session's queue (so
        anything a node ran would come back to us)."""
        flt = empty_filter()
        flt["agent"] = [agent]
        return Request(agent=agent, collective=COLLECTIVE, sender="mallory",
                       caller=caller, message={"action": action, "data": {}},
                       filter=flt, ttl=60, reply_to=self.session.reply_to)

    @staticmethod
    def sign(request: Request, key: Ed25519PrivateKey, token: str) -> bytes:
        """Sign the exact payload with ``key``, as the jwt provider does, but without
        any of its client-side checks."""
        payload = request.to_json()
        return wrap_secure("request", payload, "jwt", {
            "signature": key.sign(payload.encode()).hex(), "token": token})

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
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtFleet]:
    root = tmp_path_factory.mktemp("jwt-attacks")
    collective = LocalCollective(root / "collective")
    try:
        fleet = JwtFleet(collective, root / "pki")
        yield fleet
        fleet.close()
    finally:
        collective.stop_all()


def deltas(fleet: JwtFleet, before: dict[str, dict[str, Any]],
           done: Callable[[dict[str, int]], bool], timeout: float = 20
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


def test_valid_client_gets_signed_replies_from_every_node(fleet: JwtFleet) -> None:
    proc = fleet.collective.mco("rpc", "rpcutil", "ping",
                                "--json-format", "mcollective", config=fleet.alice_cfg)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    results = json.loads(proc.stdout)
    assert sorted(r["sender"] for r in results) == sorted(NODES)
    assert all(r["statuscode"] == 0 and "pong" in r["data"] for r in results)

    # The same through a session on the real transport, looking at the wire.
    session = fleet.session
    before = dict(session.counters)
    request = session.new_request("rpcutil", "ping", filter=fleet.request().filter)
    replies = session.expect(request.id)
    session.publish(request)
    got = [replies.get(timeout=20) for _ in NODES]
    assert sorted(r.sender for r in got) == sorted(NODES)
    assert session.counters["unverified"] == before["unverified"]
    issuers = tokens.Issuers([fleet.issuer.public_key()])
    bodies = [b for b in session.raw if request.id.encode() in b]
    assert len(bodies) == len(NODES)
    for body in bodies:
        outer = json.loads(body)
        reply = json.loads(outer["reply"])
        token = issuers.verify(outer["token"])
        assert token.purpose == "server" and token.identity == reply["sender"]
        assert "hash" not in outer
        token.public_key.verify(bytes.fromhex(outer["signature"]),  # type: ignore[union-attr]
                                outer["reply"].encode())


# --- hostile requests ----------------------------------------------------------------


def test_hostile_requests_are_rejected_counted_and_never_run(fleet: JwtFleet) -> None:
    mallory = keys.generate()
    other_issuer = keys.generate()
    attacks: dict[str, tuple[bytes, str]] = {}  # request id -> (body, why refused)

    def attack(why: str, request: Request, body: bytes) -> None:
        attacks[request.id] = (body, why)

    # 1. Forged signature: bob's genuine token, signed by someone else's key.
    r = fleet.request("inventory", caller="jwt=bob")
    attack("does not match its signature", r, fleet.sign(r, mallory, fleet.bob_token))

    # 1b. Forged token: claims our issuer, signed by another key (mallory's own key in
    #     it, allowing everything).
    claims = pyjwt.decode(fleet.client_token(mallory, callerid="jwt=bob", agents=("*",)),
                          options={"verify_signature": False})
    forged_token = pyjwt.encode(claims, other_issuer, algorithm="EdDSA")
    r = fleet.request("inventory", caller="jwt=bob")
    attack("does not carry a valid signature of its issuer", r,
           fleet.sign(r, mallory, forged_token))

    # 2. Tampered after signing: bob (allowed all of rpcutil) signs a ping; each field
    #    is then changed to something every other check would accept.
    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "filter": lambda p: p["filter"].update(identity=[NODES[0]]),
        "agent": lambda p: p.update(agent="discovery"),
        "action": lambda p: p["message"].update(action="get_config_item",
                                                data={"item": "identity"}),
        "ttl": lambda p: p.update(ttl=p["ttl"] + 3600),
        "time": lambda p: p.update(time=p["time"] + 1),
        "collective": lambda p: p.update(collective="other"),
    }
    for change in changes.values():
        r = fleet.request(caller="jwt=bob")
        outer = json.loads(fleet.sign(r, fleet.bob_key, fleet.bob_token))
        payload = json.loads(outer["request"])
        change(payload)
        outer["request"] = json.dumps(payload)
        attack("does not match its signature", r, json.dumps(outer).encode())

    # 3. Expired client token (its holder's own key; allows everything).
    expired = fleet.client_token(fleet.alice_key, agents=("*",), now=time.time() - 7200)
    r = fleet.request()
    attack("expired at", r, fleet.sign(r, fleet.alice_key, expired))

    # 4. Not yet valid: nbf five minutes ahead, far beyond the 30 s clock_skew.
    early = fleet.client_token(fleet.alice_key, agents=("*",), now=time.time() + 300)
    r = fleet.request()
    attack("is not valid before", r, fleet.sign(r, fleet.alice_key, early))

    # 5. A well-formed token from an issuer the nodes do not trust.
    foreign = fleet.client_token(mallory, callerid="jwt=alice", agents=("*",),
                                 issuer=other_issuer)
    r = fleet.request()
    attack("not a trusted issuer", r, fleet.sign(r, mallory, foreign))

    # 6. alice, with her own key and token, claims to be bob.
    r = fleet.request("inventory", caller="jwt=bob")
    attack("but its token belongs to 'jwt=alice'", r,
           fleet.sign(r, fleet.alice_key, fleet.alice_token))

    # 7. alice's token allows rpcutil.ping only; she sends rpcutil.inventory anyway.
    r = fleet.request("inventory")
    attack("may not call rpcutil.inventory", r,
           fleet.sign(r, fleet.alice_key, fleet.alice_token))

    # 7b. A node's own key and server token, used for something other than registration.
    node_key, node_token = fleet.node_keys[NODES[0]]
    r = fleet.request("inventory", caller=f"identity={NODES[0]}")
    attack("server tokens may only send registration requests", r,
           fleet.sign(r, node_key, node_token))

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
        # Every message besides the attacks (our own daemon_stats calls) validated;
        # none of the attacks did, so none was filtered, replayed or passed either.
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


def test_replay_inside_ttl_is_refused_counted_and_audited(fleet: JwtFleet) -> None:
    request = fleet.request()
    body = fleet.sign(request, fleet.alice_key, fleet.alice_token)
    replies = fleet.session.expect(request.id)
    before = fleet.stats()
    fleet.send(body)
    first = [replies.get(timeout=20) for _ in NODES]
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
        # No authorization plugin: the accepted run is audited with authorized None.
        assert [(r["authorized"], r["status"]) for r in records] == [
            (None, None), (False, None), (False, None)], (identity, records)
        assert all(r["reason"].startswith("replayed") for r in records[1:])
        assert all(r["caller"] == "jwt=alice" and r["action"] == "ping"
                   for r in records)
        assert fleet.log(identity).count(f"request {request.id} from jwt=alice") == 2


# --- forged replies ------------------------------------------------------------------


def _reply_body(reply: Reply, fields: dict[str, Any]) -> bytes:
    return wrap_secure("reply", reply.to_json(), "jwt", fields)


def test_forged_replies_are_dropped_and_counted_by_the_client(
        fleet: JwtFleet, caplog: pytest.LogCaptureFixture) -> None:
    session = fleet.session
    request = session.new_request("rpcutil", "ping", filter=fleet.request().filter)
    replies = session.expect(request.id)
    session.publish(request)
    genuine = [replies.get(timeout=20) for _ in NODES]
    assert sorted(r.sender for r in genuine) == sorted(NODES)
    target = NODES[0]
    [captured] = [b for b in session.raw if request.id.encode() in b
                  and json.loads(json.loads(b)["reply"])["sender"] == target]

    mallory = keys.generate()
    other_issuer = keys.generate()
    _, node_token = fleet.node_keys[target]  # the token is public; the key is not
    other_key, other_token = fleet.node_keys[NODES[1]]

    def reply() -> Reply:
        return Reply(request=request.id, sender=target, agent="rpcutil",
                     data={"pong": 1, "forged": True})

    def signed(key: Ed25519PrivateKey, token: str) -> bytes:
        r = reply()
        payload = r.to_json()
        return wrap_secure("reply", payload, "jwt", {
            "signature": key.sign(payload.encode()).hex(), "token": token})

    self_issued = tokens.issue_server(other_issuer, identity=target,
                                      collectives=[COLLECTIVE],
                                      public_key=keys.public_hex(mallory), validity=HOUR)
    outer = json.loads(captured)
    altered = json.loads(outer["reply"])
    altered["message"]["data"]["forged"] = True
    outer["reply"] = json.dumps(altered)
    unsigned_payload = reply().to_json()
    forged = {
        # a client (alice) signs a reply with her own key and client token
        "replies must be signed with a server token": signed(fleet.alice_key,
                                                             fleet.alice_token),
        # the node's real token (it is on the wire), signed with another key
        "does not match its signature": signed(mallory, node_token),
        # a server token for the node from an issuer the client does not trust
        "not a trusted issuer": signed(mallory, self_issued),
        # another node, with its own real key and token, answers in the target's name
        "a node can only sign its own replies": signed(other_key, other_token),
        # no signature at all, only a hash
        "carries no jwt 'token'": _reply_body(reply(), {
            "hash": hashlib.sha256(unsigned_payload.encode()).hexdigest()}),
        # a genuine reply, captured, data altered
        "altered after signing": json.dumps(outer).encode(),
    }
    before = dict(session.counters)
    with caplog.at_level("WARNING", logger="mcollective.client.session"):
        for body in forged.values():
            fleet.send_reply(body)
        deadline = time.monotonic() + 20
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
