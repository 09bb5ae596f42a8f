"""End to end with a CA and certificates made by Debian's real ``puppetserver ca``:
three daemons and an admin client using the ssldir Puppet wrote, as it is; a client
certificate from another Puppet CA, an expired one and a revoked one rejected by every
node and counted; actionpolicy allowing ``cert=admin`` and denying ``cert=other``.

``puppetserver ca setup`` and ``generate --ca-client --force`` work offline (the CA
service stopped), and are what run here; the expired certificate is one ``generate``
made with ``ca_ttl = 1s``. ``revoke`` needs a running Puppet Server (a JVM service this
test machine cannot spare), so the revocation is made the way that server makes it,
with the Puppet CA's own intermediate key (``cadir/ca_key.pem``): an updated CRL of
that CA (next CRL number, the root's CRL kept) written to the CA's ``ca_crl.pem`` and
the ssldir's ``crl.pem``.

Without ``puppetserver`` the test is skipped, unless ``MCO_REQUIRE_BROKERS=1`` (CI),
where it fails: ``.ci/apt-packages`` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mcollective.config import load_config
from mcollective.message import Request, empty_filter, wrap_secure
from mcollective.plugins import make_plugin_manager
from mcollective.testing import LocalCollective
from mcollective_security_x509 import pki

pytestmark = pytest.mark.slow

NODES = ("web1.example.net", "web2.example.net", "db1.example.net")
CLIENTS = ("admin", "other", "revoked", "expired")
#: puppetserver ca setup makes 4096-bit RSA keys in Ruby; on a busy machine it is slow.
PUPPET_TIMEOUT = 900


def _puppetserver() -> str:
    found = shutil.which("puppetserver")
    if found is None:
        if os.environ.get("MCO_REQUIRE_BROKERS") == "1":
            pytest.fail("MCO_REQUIRE_BROKERS=1 but puppetserver is not installed "
                        "(.ci/apt-packages lists it)")
        pytest.skip("Debian's puppetserver is not installed")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PuppetCA:
    """A Puppet CA made by ``puppetserver ca`` in a private confdir."""

    def __init__(self, program: str, root: Path, name: str) -> None:
        self.program = program
        self.root = root
        self.ssldir = root / "ssl"
        self.cadir = root / "ca"
        root.mkdir(parents=True)
        # server/ca_port: nothing listens there, so 'generate --ca-client' finds the CA
        # service stopped, as it must be for offline signing.
        self.conf = root / "puppet.conf"
        self.conf.write_text(f"[main]\nssldir = {self.ssldir}\nserver = 127.0.0.1\n"
                             f"ca_port = {_free_port()}\n[server]\ncadir = {self.cadir}\n")
        self.run("setup", "--ca-name", f"Puppet CA: {name}", "--certname", f"{name}-server")

    def run(self, *args: str, config: Path | None = None) -> str:
        proc = subprocess.run([self.program, "ca", *args, "--config",
                               str(config or self.conf)],
                              capture_output=True, text=True, timeout=PUPPET_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, \
            f"puppetserver ca {' '.join(args)}: exit {proc.returncode}\n" \
            f"{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def generate(self, *certnames: str) -> None:
        self.run("generate", "--certname", ",".join(certnames), "--ca-client", "--force")

    def cert(self, certname: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(
            (self.ssldir / "certs" / f"{certname}.pem").read_bytes())

    def key(self, certname: str) -> Any:
        return serialization.load_pem_private_key(
            (self.ssldir / "private_keys" / f"{certname}.pem").read_bytes(), None)

    def intermediate(self) -> tuple[Any, x509.Certificate]:
        """The signing CA's key and certificate (the first of Puppet's ca_crt.pem)."""
        key = serialization.load_pem_private_key((self.cadir / "ca_key.pem").read_bytes(),
                                                 None)
        cert = pki.load_certificates(self.cadir / "ca_crt.pem", "CA")[0]
        return key, cert

    def revoke(self, certname: str) -> None:
        """What ``puppetserver ca revoke`` does: the signing CA's CRL, re-issued with
        the certificate's serial and the next CRL number, in the CA's ca_crl.pem and
        the ssldir's crl.pem (the root CA's CRL, second in both, kept)."""
        key, ca = self.intermediate()
        old, *rest = pki.load_crls(self.cadir / "ca_crl.pem")
        assert old.issuer == ca.subject
        number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        now = datetime.now(UTC)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
                   .last_update(now - timedelta(minutes=5))
                   .next_update(old.next_update_utc or now + timedelta(days=3650))
                   .add_extension(x509.CRLNumber(number + 1), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       ca.public_key()), critical=False))  # type: ignore[arg-type]
        for revoked in old:
            builder = builder.add_revoked_certificate(revoked)
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(self.cert(certname).serial_number)
            .revocation_date(now - timedelta(minutes=5)).build())
        crls = [builder.sign(key, hashes.SHA256()), *rest]
        text = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls)
        (self.cadir / "ca_crl.pem").write_bytes(text)
        (self.ssldir / "crl.pem").write_bytes(text)

    def generate_expiring(self, certname: str) -> x509.Certificate:
        """``puppetserver ca generate`` with ``ca_ttl = 1s``: Puppet back-dates its
        certificates by a day, so this one is valid from yesterday until a second from
        now, and expired from then on."""
        short = self.root / "short-ttl.conf"
        short.write_text(self.conf.read_text().replace("[main]\n", "[main]\nca_ttl = 1s\n"))
        self.run("generate", "--certname", certname, "--ca-client", "--force",
                 config=short)
        return self.cert(certname)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PuppetCA]:
    program = _puppetserver()
    root = tmp_path_factory.mktemp("puppet")
    ca = PuppetCA(program, root / "site", "site")
    ca.generate_expiring("expired")  # first: it has expired by the time it is used
    ca.generate(*NODES, "admin", "other", "revoked")
    other = PuppetCA(program, root / "elsewhere", "elsewhere")
    other.generate("admin")
    return {"site": ca, "other": other}


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_a_puppet_site_collective(site: dict[str, PuppetCA], tmp_path: Path) -> None:
    ca, other_ca = site["site"], site["other"]
    # The files as puppetserver wrote them: root and intermediate in certs/ca.pem, one
    # CRL per CA in crl.pem, PKCS#1 RSA keys with mode 0640.
    assert len(pki.load_certificates(ca.ssldir / "certs" / "ca.pem", "CA")) == 2
    assert len(pki.load_crls(ca.ssldir / "crl.pem")) == 2
    stale_crl = tmp_path / "stale-crl.pem"  # a client that has not fetched the new CRL
    shutil.copy(ca.ssldir / "crl.pem", stale_crl)
    ca.revoke("revoked")
    # Past its end, beyond the clock_skew (30 s) the nodes allow.
    time.sleep(max(0.0, ca.cert("expired").not_valid_after_utc.timestamp() + 35
                   - time.time()))

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "rpcutil.policy").write_text("policy default deny\n"
                                             "allow\tcert=admin\t*\t*\t*\n")
    collective = LocalCollective(tmp_path / "collective")
    collective.extra_config = {
        "securityprovider": "x509",
        "plugin.psk": None,
        "plugin.x509.ssldir": str(ca.ssldir),
        "plugin.x509.clients": ", ".join(CLIENTS),
    }
    try:
        for identity in NODES:
            collective.add_node(identity, wait=False, settings={
                "rpcauthorization": 1, "rpcauthprovider": "actionpolicy",
                "plugin.actionpolicy.policy_dir": str(policies)})
        admin = collective.write_client_config("admin.cfg",
                                               **{"plugin.x509.certname": "admin"})
        other = collective.write_client_config("other.cfg",
                                               **{"plugin.x509.certname": "other"})
        foreign = collective.write_client_config("foreign.cfg", **{
            "plugin.x509.ssldir": str(other_ca.ssldir), "plugin.x509.certname": "admin"})
        revoked = collective.write_client_config("revoked.cfg", **{
            "plugin.x509.certname": "revoked", "plugin.x509.crl": str(stale_crl)})
        expired = collective.write_client_config("expired.cfg",
                                                 **{"plugin.x509.certname": "expired"})
        for node in collective.nodes.values():
            collective.wait_ready(node)

        def stats() -> dict[str, dict[str, Any]]:
            proc = _ok(collective.mco("rpc", "rpcutil", "daemon_stats",
                                      "--json-format", "mcollective", config=admin))
            return {r["sender"]: r["data"] for r in json.loads(proc.stdout)}

        # The admin, with the certificate puppetserver issued: every node answers.
        proc = _ok(collective.mco("rpc", "rpcutil", "ping",
                                  "--json-format", "mcollective", config=admin))
        results = json.loads(proc.stdout)
        assert sorted(r["sender"] for r in results) == sorted(NODES)
        assert all(r["statuscode"] == 0 for r in results)

        # cert=other passes the x509 checks; actionpolicy denies it.
        before = stats()
        proc = collective.mco("rpc", "rpcutil", "ping",
                              "--json-format", "mcollective", config=other)
        results = json.loads(proc.stdout)
        assert sorted(r["sender"] for r in results) == sorted(NODES)
        assert all(r["statuscode"] == 1 and "not authorized" in r["statusmsg"]
                   for r in results), results

        # Another Puppet CA's admin, and revoked (its client still has the old CRL):
        # the real mco sends, no node answers.
        for cfg in (foreign, revoked):
            proc = collective.mco("rpc", "rpcutil", "ping",
                                  "--json-format", "mcollective", "--dt", "2", config=cfg)
            assert json.loads(proc.stdout or "[]") == [], proc.stdout
        # The expired certificate: mco refuses to start, naming the file...
        proc = collective.mco("rpc", "rpcutil", "ping", config=expired)
        assert proc.returncode != 0
        assert f"certificate {ca.ssldir}/certs/expired.pem: CN=expired expired at" \
            in proc.stderr and "Traceback" not in proc.stderr
        # ...so it is signed and sent by hand, as a modified client would.
        config = load_config(expired)
        connector = make_plugin_manager().create_connector(config)
        connector.connect(timeout=10)
        try:
            flt = empty_filter()
            flt["agent"] = ["rpcutil"]
            request = Request(agent="rpcutil", collective="mcollective", sender="mallory",
                              caller="cert=expired", message={"action": "ping", "data": {}},
                              filter=flt, reply_to="nowhere")
            payload = request.to_json()
            key, cert = ca.key("expired"), ca.cert("expired")
            connector.publish_request(wrap_secure("request", payload, "x509", {
                "certificate": pki.encode_certificate(cert),
                "signature": pki.sign(key, payload.encode()).hex()}),
                collective="mcollective", agent="rpcutil", ttl=60, targets=list(NODES))
        finally:
            connector.close()

        def done(a: dict[str, Any], b: dict[str, Any]) -> bool:
            return bool(a["unvalidated"] - b["unvalidated"] >= 3)

        deadline = time.monotonic() + 60
        while True:
            after = stats()
            if all(done(after[n], before[n]) for n in NODES) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for identity in NODES:
            assert after[identity]["unvalidated"] - before[identity]["unvalidated"] == 3
            assert after[identity]["authfailures"] - before[identity]["authfailures"] == 1
            log = collective.nodes[identity].log()
            assert "is not issued by a CA of" in log and "CN=Puppet CA: elsewhere" in log
            assert "CN=revoked (serial" in log and "is revoked by CN=Puppet CA: site" in log
            assert "CN=expired expired at" in log
    finally:
        collective.stop_all()


def test_without_puppetserver_ci_fails_instead_of_skipping(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("MCO_REQUIRE_BROKERS", "1")
    with pytest.raises(pytest.fail.Exception, match="puppetserver is not installed"):
        _puppetserver()
    monkeypatch.delenv("MCO_REQUIRE_BROKERS")
    with pytest.raises(pytest.skip.Exception, match="puppetserver is not installed"):
        _puppetserver()
