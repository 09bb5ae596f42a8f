"""Delegated signing (a console signing for its users) and identity proofs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from x509_helpers import TestCA, join, pem, provider, request, split

from mcollective.errors import SecurityError
from mcollective.security import decode_request, encode_request
from mcollective_security_x509 import pki
from mcollective_security_x509.provider import X509Security


@pytest.fixture(scope="module")
def ca() -> TestCA:
    ca = TestCA("Site")
    for name in ("console", "alice", "bob", "node1"):
        ca.issue(name)
    return ca


@pytest.fixture
def authority(ca: TestCA, tmp_path: Path) -> pki.Authority:
    return ca.authority(tmp_path)


def _node(ca: TestCA, authority: pki.Authority, **kwargs: object) -> X509Security:
    kwargs.setdefault("clients", ("alice", "bob"))
    kwargs.setdefault("delegators", ("console",))
    return provider(ca, authority, "node1", "server", **kwargs)  # type: ignore[arg-type]


def _alice_wire(ca: TestCA) -> str:
    return pki.encode_certificate(ca.issued["alice"][1])


def test_delegated_request_is_seen_as_the_user(ca: TestCA, authority: pki.Authority) -> None:
    console = provider(ca, authority, "console")
    as_alice = console.delegate("cert=alice", _alice_wire(ca))
    assert as_alice.caller_id() == "cert=alice"
    req = request(caller="cert=alice")
    assert decode_request(encode_request(req, as_alice), _node(ca, authority)) == req
    # The account's certificate file (PEM) works as the credential too.
    from_pem = console.delegate("cert=alice", pem(ca.issued["alice"][1]).decode())
    assert decode_request(encode_request(req, from_pem), _node(ca, authority)) == req


def test_delegation_refusals(ca: TestCA, authority: pki.Authority) -> None:
    console = provider(ca, authority, "console")
    with pytest.raises(SecurityError, match="needs cert=alice's certificate"):
        console.delegate("cert=alice", None)
    with pytest.raises(SecurityError, match="belongs to cert=alice"):
        console.delegate("cert=bob", _alice_wire(ca))
    other = TestCA("Other")
    _, foreign = other.issue("alice")
    with pytest.raises(SecurityError, match="is not issued by a CA of"):
        console.delegate("cert=alice", pki.encode_certificate(foreign))

    req = request(caller="cert=alice")
    data = encode_request(req, console.delegate("cert=alice", _alice_wire(ca)))
    with pytest.raises(SecurityError, match="matches no pattern of plugin.x509.delegators "
                       r"\(none set\)"):
        decode_request(data, _node(ca, authority, delegators=()))
    with pytest.raises(SecurityError, match="'alice' may not send requests"):
        decode_request(data, _node(ca, authority, clients=("bob",)))
    # Swapping in another user's certificate breaks the caller binding...
    outer, payload = split(data)
    outer["caller_certificate"] = pki.encode_certificate(ca.issued["bob"][1])
    with pytest.raises(SecurityError, match="caller certificate belongs to 'cert=bob'"):
        decode_request(join(outer, payload), _node(ca, authority))
    # ...and a user cannot pose as a delegator with their own key.
    alice = provider(ca, authority, "alice")
    forged = alice.signed(req.to_json())
    outer, payload = split(data)
    outer.update(forged)
    with pytest.raises(SecurityError, match=r"by 'alice', which matches no pattern of "
                       r"plugin\.x509\.delegators"):
        decode_request(join(outer, payload), _node(ca, authority))


def test_revoked_user_cannot_be_signed_for(tmp_path: Path) -> None:
    ca = TestCA("Local")
    for name in ("console", "alice", "node1"):
        ca.issue(name)
    ca.revoke(ca.issued["alice"][1])
    authority = ca.authority(tmp_path)
    console = provider(ca, authority, "console")
    with pytest.raises(SecurityError, match="is revoked"):
        console.delegate("cert=alice", _alice_wire(ca))


def test_identity_proofs(ca: TestCA, authority: pki.Authority) -> None:
    alice = provider(ca, authority, "alice")
    console = provider(ca, authority, "console")
    proof = alice.identity_proof("nonce-1")
    proven = console.verify_identity_proof(proof, "nonce-1")
    assert proven.caller == "cert=alice"
    assert proven.credential == _alice_wire(ca)
    assert proven.expires is not None and proven.expires > time.time()
    with pytest.raises(SecurityError, match="not for this challenge"):
        console.verify_identity_proof(proof, "nonce-2")
    for junk in ("", "abc", "x.y", proof.replace(".", "")):
        with pytest.raises(SecurityError):
            console.verify_identity_proof(junk, "nonce-1")
    # A proof cannot pass for a request signature: the signed bytes differ.
    other = TestCA("Other")
    other.issue("alice")
    mallory = provider(other, authority, "alice")
    with pytest.raises(SecurityError, match="is not issued by a CA of"):
        console.verify_identity_proof(mallory.identity_proof("nonce-1"), "nonce-1")
