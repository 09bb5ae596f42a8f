"""The console under the x509 security plugin: it signs with its own certificate for
each user, carrying the user's certificate; nodes that list it in
``plugin.x509.delegators`` see the user (authorization and audit); users sign in with
identity proofs made by their own ``mco`` and their own key and certificate."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from webconsole_helpers import PASSWORDS, Console, audit_lines

from mcollective.testing import LocalCollective
from mcollective.testing.collective import _script

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NODE = "web1.example.net"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Ssldir:
    """A one-level CA and certificates, in a Puppet ssldir layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "certs").mkdir(parents=True)
        (root / "private_keys").mkdir()
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._cert("Console Test CA", self.key, ca=True)
        (root / "certs" / "ca.pem").write_bytes(self.ca.public_bytes(
            serialization.Encoding.PEM))

    def _cert(self, cn: str, key: Any, *, ca: bool = False) -> x509.Certificate:
        now = datetime.now(UTC)
        return (x509.CertificateBuilder().subject_name(_name(cn))
                .issuer_name(_name("Console Test CA")).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(hours=1))
                .not_valid_after(now + timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))

    def issue(self, certname: str) -> Path:
        key = ec.generate_private_key(ec.SECP256R1())
        path = self.root / "certs" / f"{certname}.pem"
        path.write_bytes(self._cert(certname, key).public_bytes(serialization.Encoding.PEM))
        key_path = self.root / "private_keys" / f"{certname}.pem"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return path


def test_delegated_signing_and_identity_proofs(tmp_path: Path) -> None:
    ssl = Ssldir(tmp_path / "ssl")
    for name in (NODE, "console", "alice", "bob", "mallory"):
        ssl.issue(name)
    collective = LocalCollective(tmp_path / "collective", extra_config={
        "securityprovider": "x509", "plugin.psk": None,
        "plugin.x509.ssldir": str(ssl.root),
        "plugin.x509.clients": "alice, bob, mallory",
        "plugin.x509.delegators": "console"})
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "rpcutil.policy").write_text(
        "policy default deny\nallow\tcert=alice cert=bob\t*\t*\t*\n")
    try:
        collective.add_node(NODE, settings={
            "rpcauthorization": 1, "rpcauthprovider": "actionpolicy",
            "plugin.actionpolicy.policy_dir": str(policies),
            "rpcaudit": 1, "rpcauditprovider": "logfile",
            "plugin.rpcaudit.logfile": str(collective.root / "nodes" / NODE / "audit.log")})
        console_cfg = collective.write_client_config(
            "console.cfg", **{"plugin.x509.certname": "console"})
        alice_cfg = collective.write_client_config(
            "alice.cfg", **{"plugin.x509.certname": "alice"})
        console = Console(collective, tmp_path / "console", config=console_cfg, users={})
        console.add_user("carol")  # a password but no certificate: cannot be signed for
        # bob's account names his certificate (public) as the credential to sign with;
        # the caller id is the certificate's.
        proc = console.mco_web("useradd", "bob", "--password-stdin",
                               "--token", str(ssl.root / "certs" / "bob.pem"),
                               input=PASSWORDS["bob"] + "\n")
        assert proc.returncode == 0, proc.stderr
        assert "(caller cert=bob)" in proc.stdout
        console.start()
        try:
            # alice proves who she is with her own mco; her key never leaves her.
            challenge = httpx.get(f"{console.url}/api/v1/login/challenge").json()
            proof = subprocess.run(
                [*_script("mco"), "web", "prove", challenge["challenge"], "-c",
                 str(alice_cfg)], env=collective.env(), capture_output=True, text=True,
                timeout=60, check=True).stdout.strip()
            login = httpx.post(f"{console.url}/api/v1/login", json={
                "proof": proof, "challenge": challenge["challenge"]}).json()
            assert login["caller"] == "cert=alice"
            alice = httpx.Client(base_url=console.url, timeout=60, headers={
                "Authorization": f"Bearer {login['token']}"})
            ping = alice.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping"})
            assert [r["statuscode"] for r in ping.json()["results"]] == [0], ping.text

            bob = console.api("bob")
            pong = bob.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping"})
            assert [r["statuscode"] for r in pong.json()["results"]] == [0], pong.text

            carol = console.api("carol")
            nobody = carol.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping"})
            assert nobody.status_code == 403
            assert "certificate" in nobody.json()["detail"]

            # mallory's proof is good, actionpolicy on the node denies her.
            challenge = httpx.get(f"{console.url}/api/v1/login/challenge").json()
            mallory_cfg = collective.write_client_config(
                "mallory.cfg", **{"plugin.x509.certname": "mallory"})
            proof = subprocess.run(
                [*_script("mco"), "web", "prove", challenge["challenge"], "-c",
                 str(mallory_cfg)], env=collective.env(), capture_output=True, text=True,
                timeout=60, check=True).stdout.strip()
            login = httpx.post(f"{console.url}/api/v1/login", json={
                "proof": proof, "challenge": challenge["challenge"]}).json()
            mallory = httpx.Client(base_url=console.url, timeout=60, headers={
                "Authorization": f"Bearer {login['token']}"})
            denied = mallory.post("/api/v1/rpc", json={"agent": "rpcutil",
                                                       "action": "ping"})
            assert [r["statuscode"] for r in denied.json()["results"]] == [1], denied.text

            callers = {line["request_id"]: line["caller"]
                       for line in audit_lines(collective, NODE)}
            assert callers[ping.json()["request_id"]] == "cert=alice"
            assert callers[pong.json()["request_id"]] == "cert=bob"
            assert callers[denied.json()["request_id"]] == "cert=mallory"
            assert "cert=console" not in callers.values()
        finally:
            console.stop()
        assert "Traceback" not in console.log()
    finally:
        collective.stop_all()
