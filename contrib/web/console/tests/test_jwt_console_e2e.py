"""The console under the jwt security plugin: it signs as a delegator for each user, the
nodes see the user (authorization and audit), users sign in with identity proofs made
by their own ``mco``, and nobody's requests go out in the console's name."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from webconsole_helpers import PASSWORDS, Console, audit_lines

from mcollective.testing import LocalCollective
from mcollective.testing.collective import _script
from mcollective_security_jwt import keys, tokens

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NODE = "web1.example.net"
HOUR = timedelta(hours=1)


class Pki:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.issuer = keys.generate()
        self.issuer_pub = keys.write_key_pair(root / "issuer.key", self.issuer)

    def identity(self, name: str, *, server: bool = False, delegator: bool = False,
                 agents: tuple[str, ...] = ("*",)) -> tuple[Path, Path]:
        key = keys.generate()
        if server:
            raw = tokens.issue_server(self.issuer, identity=name, collectives=["mcollective"],
                                      public_key=keys.public_hex(key), validity=HOUR)
        else:
            raw = tokens.issue_client(self.issuer, callerid=f"jwt={name}", agents=agents,
                                      public_key=keys.public_hex(key), validity=HOUR,
                                      delegator=delegator)
        key_path = self.root / f"{name}.key"
        keys.write_key_pair(key_path, key)
        token_path = self.root / f"{name}.token"
        token_path.write_text(raw + "\n")
        return key_path, token_path


def jwt_settings(key: Path, token: Path) -> dict[str, Any]:
    return {"plugin.jwt.private_key": str(key), "plugin.jwt.token": str(token)}


def test_delegated_signing_and_identity_proofs(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    collective = LocalCollective(tmp_path / "collective", extra_config={
        "securityprovider": "jwt", "plugin.psk": None,
        "plugin.jwt.issuer_public_key": str(pki.issuer_pub)})
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "rpcutil.policy").write_text(
        "policy default deny\nallow\tjwt=alice jwt=bob\t*\t*\t*\n")
    try:
        collective.add_node(NODE, settings={
            **jwt_settings(*pki.identity(NODE, server=True)),
            "rpcauthorization": 1, "rpcauthprovider": "actionpolicy",
            "plugin.actionpolicy.policy_dir": str(policies),
            "rpcaudit": 1, "rpcauditprovider": "logfile",
            "plugin.rpcaudit.logfile": str(collective.root / "nodes" / NODE / "audit.log")})
        console_cfg = collective.write_client_config(
            "console.cfg", **jwt_settings(*pki.identity("console", delegator=True)))
        alice_cfg = collective.write_client_config(
            "alice.cfg", **jwt_settings(*pki.identity("alice", agents=("rpcutil.*",))))
        _, bob_token = pki.identity("bob")
        console = Console(collective, tmp_path / "console", config=console_cfg, users={})
        console.add_user("carol")  # a password but no token: cannot be signed for
        proc = console.mco_web("useradd", "bob", "--password-stdin", "--token",
                               str(bob_token), input=PASSWORDS["bob"] + "\n")
        assert proc.returncode == 0, proc.stderr
        console.start()
        try:
            # alice proves who she is with her own mco, her key never leaves her.
            challenge = httpx.get(f"{console.url}/api/v1/login/challenge").json()
            assert challenge["command"] == f"mco web prove {challenge['challenge']}"
            proof = subprocess.run(
                [*_script("mco"), "web", "prove", challenge["challenge"], "-c",
                 str(alice_cfg)], env=collective.env(), capture_output=True, text=True,
                timeout=60, check=True).stdout.strip()
            login = httpx.post(f"{console.url}/api/v1/login", json={
                "proof": proof, "challenge": challenge["challenge"]}).json()
            assert login["caller"] == "jwt=alice"
            replay = httpx.post(f"{console.url}/api/v1/login", json={
                "proof": proof, "challenge": challenge["challenge"]})
            assert replay.status_code == 401  # a challenge is good once
            alice = httpx.Client(base_url=console.url, timeout=60, headers={
                "Authorization": f"Bearer {login['token']}"})
            ping = alice.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping"})
            assert [r["statuscode"] for r in ping.json()["results"]] == [0], ping.text
            # Her token allows rpcutil only: the console refuses before sending.
            refused = alice.post("/api/v1/rpc", json={
                "agent": "package", "action": "status", "arguments": {"package": "bash"}})
            assert refused.status_code in (403, 404)

            bob = console.api("bob")
            pong = bob.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping"})
            assert pong.status_code == 200, pong.text
            assert [r["statuscode"] for r in pong.json()["results"]] == [0], pong.text

            carol = console.api("carol")
            nobody = carol.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping"})
            assert nobody.status_code == 403
            assert "client token" in nobody.json()["detail"]

            callers = {line["request_id"]: line["caller"]
                       for line in audit_lines(collective, NODE)}
            assert callers[ping.json()["request_id"]] == "jwt=alice"
            assert callers[pong.json()["request_id"]] == "jwt=bob"
            assert "jwt=console" not in callers.values()
        finally:
            console.stop()
        assert "Traceback" not in console.log()
    finally:
        collective.stop_all()
