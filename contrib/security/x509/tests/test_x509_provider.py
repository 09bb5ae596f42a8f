"""What only the x509 provider does, beyond the shared contract: allow-lists of client
and node names, registration by node certificates, chains with and without an
intermediate CA, revoked intermediates, names from subject alternative names, RSA and
ed25519 signers, and its own checks before signing."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from cryptography import x509
from x509_helpers import TestCA, join, provider, reply, request, split

from mcollective.errors import SecurityError
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request
from mcollective_security_x509 import pki
from mcollective_security_x509.provider import X509Security


@pytest.fixture(scope="module")
def ca() -> TestCA:
    ca = TestCA("Site")
    for name in ("admin", "alice.ops", "node1", "node2", "puppet"):
        ca.issue(name)
    return ca


@pytest.fixture
def authority(ca: TestCA, tmp_path: Path) -> pki.Authority:
    return ca.authority(tmp_path)


def _server(ca: TestCA, authority: pki.Authority, **kwargs: object) -> X509Security:
    return provider(ca, authority, "node1", "server", **kwargs)  # type: ignore[arg-type]


def test_caller_ids(ca: TestCA, authority: pki.Authority) -> None:
    assert provider(ca, authority, "admin").caller_id() == "cert=admin"


def test_client_patterns(ca: TestCA, authority: pki.Authority) -> None:
    server = _server(ca, authority, clients=("admin", "*.ops"))
    for name in ("admin", "alice.ops"):
        client = provider(ca, authority, name)
        decode_request(encode_request(request(caller=f"cert={name}"), client), server)
    node = provider(ca, authority, "node2")
    with pytest.raises(SecurityError, match=r"certificate 'node2' may not send requests "
                       r"\(it matches no pattern of plugin.x509.clients: admin, \*.ops\)"):
        decode_request(encode_request(request(caller="cert=node2"), node), server)


def test_a_node_certificate_may_be_allowed_as_a_client(ca: TestCA,
                                                      authority: pki.Authority) -> None:
    """A Puppet server's certificate, listed in plugin.x509.clients, may send requests."""
    server = _server(ca, authority, clients=("admin", "puppet"))
    puppet = provider(ca, authority, "puppet", "server")
    req = request(caller="cert=puppet")
    assert decode_request(encode_request(req, puppet), server) == req


def test_registration_by_node_certificates(ca: TestCA, authority: pki.Authority) -> None:
    server = _server(ca, authority, clients=("admin",))
    node2 = provider(ca, authority, "node2", "server")
    ok = request(caller="identity=node2", sender="node2", agent="registration")
    assert decode_request(encode_request(ok, node2), server) == ok
    with pytest.raises(SecurityError, match=r"may only send registration requests, not "
                       r"rpcutil\.ping"):
        decode_request(encode_request(request(caller="identity=node2", sender="node2"),
                                      node2), server)
    with pytest.raises(SecurityError, match="only send registration requests as itself"):
        decode_request(encode_request(request(caller="identity=node2", sender="node1",
                                              agent="registration"), node2), server)
    strict = _server(ca, authority, clients=("admin",), nodes=("web*",))
    with pytest.raises(SecurityError, match=r"matches no pattern of plugin\.x509\.nodes"):
        decode_request(encode_request(ok, node2), strict)


def test_replies_only_from_listed_nodes_in_their_own_name(
        ca: TestCA, authority: pki.Authority) -> None:
    node1 = _server(ca, authority)
    client = provider(ca, authority, "admin", nodes=("node*",))
    rep = reply(sender="node1")
    assert decode_reply(encode_reply(rep, node1), client) == rep
    admin_as_node = provider(ca, authority, "admin")
    with pytest.raises(SecurityError, match="a node can only sign its own replies"):
        decode_reply(encode_reply(rep, admin_as_node), client)
    with pytest.raises(SecurityError, match=r"matches no pattern of plugin\.x509\.nodes"):
        decode_reply(encode_reply(reply(sender="admin"), admin_as_node), client)


def test_single_ca_without_intermediate(tmp_path: Path) -> None:
    ca = TestCA("Flat", intermediate=False)
    authority = ca.authority(tmp_path)
    client, server = provider(ca, authority, "admin"), provider(ca, authority, "node1",
                                                                 "server")
    req = request(caller="cert=admin")
    assert decode_request(encode_request(req, client), server) == req
    assert len(authority.verify(client.own.cert).chain) == 2


def test_bundle_of_the_intermediate_only(ca: TestCA, tmp_path: Path) -> None:
    """A bundle may hold just the issuing CA (whose own issuer it lacks)."""
    (tmp_path / "ca.pem").write_bytes(ca.cert.public_bytes(
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["Encoding"]).Encoding.PEM))
    authority = pki.Authority(tmp_path / "ca.pem", None)
    assert len(authority.verify(ca.issued["admin"][1]).chain) == 2


def test_revoked_intermediate(tmp_path: Path) -> None:
    ca = TestCA("Layered")
    ca.issue("admin")
    ca.issue("node1")
    original = ca.crls
    authority_ok = ca.authority(tmp_path / "ok")
    client = provider(ca, authority_ok, "admin")
    data = encode_request(request(caller="cert=admin"), client)

    def crls() -> list[x509.CertificateRevocationList]:
        # The root's CRL revokes the intermediate.
        from datetime import UTC, datetime, timedelta

        from cryptography.hazmat.primitives import hashes

        now = datetime.now(UTC)
        root_crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.root.subject)
                    .last_update(now - timedelta(days=1))
                    .next_update(now + timedelta(days=30))
                    .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                             .serial_number(ca.cert.serial_number)
                                             .revocation_date(now).build())
                    .sign(ca.root_key, hashes.SHA256()))
        return [original()[0], root_crl]

    ca.crls = crls  # type: ignore[method-assign]
    authority = ca.authority(tmp_path / "revoked")
    with pytest.raises(SecurityError, match=r"CN=Layered CA .* is revoked by "
                       "CN=Layered Root CA"):
        decode_request(data, provider(ca, authority, "node1", "server"))


def test_expired_intermediate_is_named(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    ca = TestCA("Old")
    now = datetime.now(UTC)
    ca.cert = ca._cert(ca.cert.subject, ca.key.public_key(), ca.root.subject, ca.root_key,
                       now - timedelta(days=400), now - timedelta(days=1), ca=True)
    _, cert = ca.issue("admin")
    authority = ca.authority(tmp_path)
    with pytest.raises(pki.CertificateError, match="CN=Old CA expired at"):
        authority.verify(cert)


@pytest.mark.parametrize("kind", ["rsa", "ed25519", "ec"])
def test_key_types(ca: TestCA, authority: pki.Authority, kind: str) -> None:
    ca.issue(f"{kind}-user", kind=kind)
    client = provider(ca, authority, f"{kind}-user")
    server = _server(ca, authority, clients=("*-user",))
    req = request(caller=f"cert={kind}-user")
    assert decode_request(encode_request(req, client), server) == req


def test_names_from_dns_san(ca: TestCA, authority: pki.Authority) -> None:
    ca.issue("Web Server 7", san=[x509.DNSName("web7.example.net")])
    client = provider(ca, authority, "Web Server 7", name_from="dns")
    server = _server(ca, authority, clients=("web7.example.net",), name_from="dns")
    req = request(caller="cert=web7.example.net")
    # The provider was built by hand, so it has the CN; the server reads the SAN.
    object.__setattr__(client.own, "certname", "web7.example.net")
    assert decode_request(encode_request(req, client), server) == req


def test_sign_request_checks_first(ca: TestCA, authority: pki.Authority) -> None:
    client = provider(ca, authority, "admin")
    with pytest.raises(SecurityError, match="is not this process's certificate name"):
        encode_request(request(caller="cert=root"), client)
    late = provider(ca, authority, "admin", clock=lambda: time.time() + 400 * 86400)
    with pytest.raises(SecurityError, match=r"cannot sign with certificate admin\.pem: "
                       r"CN=admin expired at"):
        encode_request(request(caller="cert=admin"), late)


def test_stale_node_certificate_is_logged_once(ca: TestCA, authority: pki.Authority,
                                              caplog: pytest.LogCaptureFixture) -> None:
    node = provider(ca, authority, "node1", "server", clock=lambda: time.time() + 400 * 86400)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            encode_reply(reply(sender="node1"), node)
    assert caplog.text.count("clients will reject this node's replies") == 1


def test_oversized_and_non_canonical_certificates(ca: TestCA, authority: pki.Authority
                                                  ) -> None:
    client, server = provider(ca, authority, "admin"), _server(ca, authority)
    outer, payload = split(encode_request(request(caller="cert=admin"), client))
    for value, why in (("A" * (pki.MAX_CERTIFICATE_B64 + 4), "longer than"),
                       (outer["certificate"][:-2] + "\n" + outer["certificate"][-2:],
                        "not base64"),
                       ("QUJD", "not a certificate")):
        with pytest.raises(SecurityError, match=why):
            decode_request(join({**outer, "certificate": value}, payload), server)


def test_verified_chains_are_cached(ca: TestCA, authority: pki.Authority) -> None:
    cert = ca.issued["admin"][1]
    first = authority.verify(cert)
    assert authority.verify(cert) is first
