"""Signing on behalf of other callers, and proving who you are to a process that does.

A process acting for many users (the web console, ``mcollective-web``) cannot hold every
user's private key. It signs each user's request with its own key and certificate, and
carries the user's certificate in ``caller_certificate``. A node accepts such a request
only when the signer's certificate and the user's both verify against its CA (chain,
dates, CRL), the signer's name matches the node's ``plugin.x509.delegators``, the
request's caller is ``cert=<the user's name>`` and that name matches
``plugin.x509.clients`` (:meth:`X509Security._verify_delegated`). Authorization and
audit then see the user, not the console. Nodes without ``plugin.x509.delegators``
accept no delegated request.

A user proves who they are without handing over their private key: the console shows a
random challenge, the user's own ``mco`` signs it (``mco web prove CHALLENGE``), and the
proof (the user's certificate as it travels, a dot, the signature in hex) is checked
against the CA. The signed bytes are prefixed with a fixed context, so a proof can never
pass for a signed request or the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcollective.errors import SecurityError
from mcollective.message import Reply, Request
from mcollective.security import ProvenIdentity, SecurityProvider
from mcollective_security_x509 import pki
from mcollective_security_x509.provider import CALLER_CERTIFICATE_FIELD

if TYPE_CHECKING:
    from mcollective_security_x509.provider import X509Security

PROOF_CONTEXT = b"mcollective x509 identity proof\x00"
#: Challenges are nonces a console makes; a bound keeps hostile input cheap to refuse.
MAX_CHALLENGE = 256
_SIGNATURE = re.compile(r"(?:[0-9a-f]{2}){32,1024}")


def _user_certificate(provider: X509Security, credential: str, what: str
                      ) -> tuple[str, str, pki.Verified]:
    """(wire text, name, verified chain) of a user's certificate given as it travels or
    as PEM (the file an account names)."""
    text = credential.strip()
    if text.startswith("-----BEGIN"):
        blocks = pki.pem_blocks(text.encode("ascii", "replace"), "CERTIFICATE")
        if not blocks:
            raise SecurityError(f"{what} is not a PEM certificate")
        try:
            from cryptography import x509

            text = pki.encode_certificate(x509.load_pem_x509_certificate(blocks[0]))
        except ValueError as exc:
            raise SecurityError(f"{what} cannot be read: {exc}") from None
    try:
        verified = provider.authority.verify_encoded(text, provider.clock())
        name = verified.name(provider.name_from)
    except pki.CertificateError as exc:
        raise SecurityError(f"{what}: {exc}") from None
    except ValueError as exc:
        raise SecurityError(f"{what} is not a certificate: {str(exc)[:200]}") from None
    return text, name, verified


def delegate(provider: X509Security, caller: str, credential: str | None
             ) -> DelegatedX509Security:
    """A provider signing as ``caller``, whose certificate is ``credential``."""
    if not credential:
        raise SecurityError(f"cannot sign on behalf of {caller}: the x509 security plugin "
                            f"needs {caller}'s certificate (sign in with a proof made by "
                            "'mco web prove', or give the account the certificate file "
                            "as its token)")
    wire, name, _ = _user_certificate(provider, credential, f"the certificate of {caller}")
    if f"cert={name}" != caller:
        raise SecurityError(f"the certificate given for {caller} belongs to cert={name}")
    return DelegatedX509Security(provider, caller, wire)


class DelegatedX509Security(SecurityProvider):
    """Signs as ``caller`` with ``signer``'s key and certificate, carrying the caller's
    certificate; verifies replies as ``signer`` does."""

    name = "x509"

    def __init__(self, signer: X509Security, caller: str, caller_wire: str) -> None:
        self.signer = signer
        self.caller = caller
        self.caller_wire = caller_wire

    def caller_id(self) -> str:
        return self.caller

    def sign_request(self, payload: str, request: Request) -> Mapping[str, Any]:
        if request.caller != self.caller:
            raise SecurityError(f"request caller {request.caller!r} is not {self.caller}, "
                                "for whom this provider signs")
        _user_certificate(self.signer, self.caller_wire, f"the certificate of {self.caller}")
        problem = self.signer.own_problem()
        if problem is not None:
            raise SecurityError(f"cannot sign with {problem}")
        return {**self.signer.signed(payload), CALLER_CERTIFICATE_FIELD: self.caller_wire}

    def verify_request(self, fields: Mapping[str, Any], payload: str,
                       request: Request) -> None:
        self.signer.verify_request(fields, payload, request)

    def sign_reply(self, payload: str, reply: Reply) -> Mapping[str, Any]:
        return self.signer.sign_reply(payload, reply)

    def verify_reply(self, fields: Mapping[str, Any], payload: str, reply: Reply) -> None:
        self.signer.verify_reply(fields, payload, reply)


def verify_delegated(provider: X509Security, fields: Mapping[str, Any], payload: str,
                     request: Request, what: str) -> None:
    """Accept a request signed by a delegator for the caller whose certificate it
    carries, or raise SecurityError saying why not (see the module doc)."""
    signer_name, signer = provider.certificate(fields, what)
    raw = fields.get(CALLER_CERTIFICATE_FIELD)
    if not isinstance(raw, str):
        raise SecurityError(f"{what} has a malformed x509 '{CALLER_CERTIFICATE_FIELD}'")
    _, name, _ = _user_certificate(provider, raw, f"{what} (caller certificate)")
    if request.caller != f"cert={name}":
        raise SecurityError(f"{what} claims caller {request.caller!r}, but its caller "
                            f"certificate belongs to 'cert={name}'")
    provider.check_signature(fields, payload, signer, signer_name, what)
    if not pki.matches(signer_name, provider.delegators):
        raise SecurityError(f"{what} is signed on behalf of cert={name} by {signer_name!r}, "
                            "which matches no pattern of plugin.x509.delegators "
                            f"({', '.join(provider.delegators) or 'none set'})")
    if not pki.matches(name, provider.clients):
        raise SecurityError(f"{what}: certificate {name!r} may not send requests (it "
                            "matches no pattern of plugin.x509.clients: "
                            f"{', '.join(provider.clients) or 'none set'})")


def identity_proof(provider: X509Security, challenge: str) -> str:
    if not challenge or len(challenge) > MAX_CHALLENGE:
        raise SecurityError(f"a challenge is 1 to {MAX_CHALLENGE} characters")
    problem = provider.own_problem()
    if problem is not None:
        raise SecurityError(f"cannot prove who you are with {problem}")
    data = PROOF_CONTEXT + challenge.encode("utf-8", "surrogatepass")
    return f"{provider.own.wire}.{pki.sign(provider.own.key, data).hex()}"


def verify_identity_proof(provider: X509Security, proof: str, challenge: str
                          ) -> ProvenIdentity:
    if not isinstance(proof, str) or not isinstance(challenge, str):
        raise SecurityError("the proof and the challenge must be text")
    if not challenge or len(challenge) > MAX_CHALLENGE:
        raise SecurityError(f"a challenge is 1 to {MAX_CHALLENGE} characters")
    wire, dot, signature = proof.strip().partition(".")
    if not dot or not _SIGNATURE.fullmatch(signature):
        raise SecurityError("the proof is not an x509 identity proof (a certificate, a "
                            "dot and a signature, as 'mco web prove' prints)")
    _, name, verified = _user_certificate(provider, wire, "the proof's certificate")
    data = PROOF_CONTEXT + challenge.encode("utf-8", "surrogatepass")
    try:
        key = pki.public_key_of(verified.cert)
    except pki.CertificateError as exc:
        raise SecurityError(f"the proof's certificate: {exc}") from None
    if not pki.verify(key, bytes.fromhex(signature), data):
        raise SecurityError(f"the proof is not signed with the key of the certificate of "
                            f"{name!r}, or not for this challenge")
    return ProvenIdentity(caller=f"cert={name}", credential=wire,
                          expires=verified.not_after_ts)
