"""Real daemons and the real ``mco`` with ``securityprovider = jwt``: allowed calls get
signed replies; disallowed and expired callers are refused by every daemon and counted
as ``unvalidated``, and nothing runs."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jwt_helpers import client_token, write_identity, write_issuer

from mcollective.config import load_config
from mcollective.message import Request, empty_filter, wrap_secure
from mcollective.plugins import make_plugin_manager
from mcollective.testing import LocalCollective
from mcollective_security_jwt import keys, tokens

pytestmark = pytest.mark.slow

NODES = ("web1.example.net", "web2.example.net", "db1.example.net")


class JwtCollective:
    """A LocalCollective whose nodes and clients all use the jwt plugin."""

    def __init__(self, collective: LocalCollective, root: Path) -> None:
        self.collective = collective
        self.pki = root / "pki"
        self.issuer_pub = write_issuer(self.pki)
        self.issuer = keys.load_private_key(self.pki / "issuer.key")
        collective.extra_config = {
            "securityprovider": "jwt",
            "plugin.psk": None,  # rendered as absent
            "plugin.jwt.issuer_public_key": str(self.issuer_pub),
        }

    def add_node(self, identity: str, **settings: Any) -> None:
        key = keys.generate()
        token = tokens.issue_server(self.issuer, identity=identity,
                                    collectives=["mcollective"],
                                    public_key=keys.public_hex(key),
                                    validity=timedelta(hours=1))
        key_path, token_path = write_identity(self.pki, identity, key, token)
        self.collective.add_node(identity, wait=False, settings={
            "plugin.jwt.private_key": str(key_path), "plugin.jwt.token": str(token_path),
            **settings})

    def wait(self) -> None:
        for node in self.collective.nodes.values():
            self.collective.wait_ready(node)

    def client(self, name: str, agents: tuple[str, ...],
               settings: dict[str, Any] | None = None) -> tuple[Path, Any, str]:
        """A client configuration for caller ``jwt=<name>``; returns it, the key and the
        token."""
        key = keys.generate()
        token = client_token(key, callerid=f"jwt={name}", agents=agents, issuer=self.issuer)
        key_path, token_path = write_identity(self.pki, name, key, token)
        cfg = self.collective.write_client_config(f"{name}.cfg", **{
            "plugin.jwt.private_key": str(key_path), "plugin.jwt.token": str(token_path),
            **(settings or {})})
        return cfg, key, token

    def mco(self, cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return self.collective.mco(*args, config=cfg)


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def fleet(local_collective: LocalCollective, tmp_path: Path) -> JwtCollective:
    return JwtCollective(local_collective, tmp_path)


def _stats(fleet: JwtCollective, admin: Path, identity: str) -> dict[str, Any]:
    proc = _ok(fleet.mco(admin, "rpc", "rpcutil", "daemon_stats", "-I", identity,
                         "--json-format", "mcollective"))
    [result] = json.loads(proc.stdout)
    return result["data"]


def test_allowed_and_refused_calls(fleet: JwtCollective) -> None:
    for identity in NODES:
        fleet.add_node(identity)
    alice, alice_key, alice_token = fleet.client("alice", ("rpcutil.ping",))
    admin, _, _ = fleet.client("admin", ("*",))
    fleet.wait()

    # Allowed: every daemon answers, and every reply passed the client's verification
    # (signed by a server token of the same issuer for that very node).
    proc = _ok(fleet.mco(alice, "rpc", "rpcutil", "ping", "--json-format", "mcollective"))
    results = json.loads(proc.stdout)
    assert sorted(r["sender"] for r in results) == sorted(NODES)
    assert all(r["statuscode"] == 0 for r in results)

    # Disallowed: the client says so before sending anything.
    refused = fleet.mco(alice, "rpc", "rpcutil", "inventory")
    assert refused.returncode != 0
    assert "does not allow rpcutil.inventory" in refused.stderr

    # A modified client sends it anyway, and an old token is replayed: daemons refuse both.
    before = {identity: _stats(fleet, admin, identity) for identity in NODES}
    config = load_config(alice)
    connector = make_plugin_manager().create_connector(config)
    connector.connect(timeout=10)
    expired_key = keys.generate()
    expired = client_token(expired_key, callerid="jwt=alice", agents=("*",),
                           issuer=fleet.issuer, now=time.time() - 7200)
    try:
        for key, token, action in ((alice_key, alice_token, "inventory"),
                                   (expired_key, expired, "ping")):
            flt = empty_filter()
            flt["agent"] = ["rpcutil"]
            request = Request(agent="rpcutil", collective="mcollective", sender="mallory",
                              caller="jwt=alice", message={"action": action, "data": {}},
                              filter=flt, reply_to="nowhere")
            payload = request.to_json()
            body = wrap_secure("request", payload, "jwt", {
                "signature": key.sign(payload.encode()).hex(), "token": token})
            connector.publish_request(body, collective="mcollective", agent="rpcutil",
                                      ttl=60, targets=list(NODES))
    finally:
        connector.close()

    deadline = time.monotonic() + 15
    for identity in NODES:
        while True:
            after = _stats(fleet, admin, identity)
            done = after["unvalidated"] - before[identity]["unvalidated"] >= 2
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert after["unvalidated"] - before[identity]["unvalidated"] == 2, identity
        # Only our own daemon_stats calls passed, and nothing else ran.
        calls = after["total"] - before[identity]["total"] - 2
        assert after["passed"] - before[identity]["passed"] == calls
        log = fleet.collective.nodes[identity].log()
        assert "may not call rpcutil.inventory" in log
        assert "expired at" in log


def test_replies_must_be_signed_unless_both_sides_agree(fleet: JwtCollective) -> None:
    fleet.add_node("signed.example.net")
    fleet.add_node("quiet.example.net", **{"plugin.jwt.sign_replies": "false"})
    strict, _, _ = fleet.client("alice", ("rpcutil.ping",))
    lenient, _, _ = fleet.client("bob", ("rpcutil.ping",),
                                 {"plugin.jwt.sign_replies": "false"})
    fleet.wait()

    proc = _ok(fleet.mco(strict, "rpc", "rpcutil", "ping", "--json-format", "mcollective"))
    assert [r["sender"] for r in json.loads(proc.stdout)] == ["signed.example.net"]

    proc = _ok(fleet.mco(lenient, "rpc", "rpcutil", "ping", "--json-format", "mcollective"))
    assert sorted(r["sender"] for r in json.loads(proc.stdout)) == \
        ["quiet.example.net", "signed.example.net"]


def test_daemon_refuses_to_start_with_an_expired_token(fleet: JwtCollective) -> None:
    key = keys.generate()
    token = tokens.issue_server(fleet.issuer, identity="late.example.net",
                                collectives=["mcollective"], public_key=keys.public_hex(key),
                                validity=timedelta(hours=1), now=time.time() - 7200)
    key_path, token_path = write_identity(fleet.pki, "late.example.net", key, token)
    node = fleet.collective.add_node("late.example.net", start=False, settings={
        "plugin.jwt.private_key": str(key_path), "plugin.jwt.token": str(token_path)})
    fleet.collective.start(node, wait=False)
    assert node.process is not None
    assert node.process.wait(30) != 0
    output = (node.directory / "stderr.log").read_text() + node.log()
    assert "expired at" in output and "mco security issue server" in output
