"""The x509 security provider: signatures over the exact serialised message with the
sender's private key, vouched for by its certificate from the site's CA.

Secure-layer fields (next to core's ``protocol``, ``security`` = ``"x509"`` and the
``request``/``reply`` string):

``certificate``
    the sender's certificate: standard base64 of its DER, no line breaks.
``signature``
    lowercase hex of the signature of the payload string (UTF-8) by the sender's key:
    RSA PKCS#1 v1.5 with SHA-256, ECDSA with SHA-256 (DER), or ed25519.
``caller_certificate``
    delegated requests only (:mod:`.delegation`): the certificate of the caller for
    whom the holder of ``certificate`` (a console) signed.

A request is accepted when, in this order: its certificate chains to the configured CA
bundle, every certificate of the chain is inside its validity dates (give or take
``clock_skew``) and none is on its CA's revocation list; the request's caller is
``cert=<certname>`` (a user) or ``identity=<certname>`` (a node's own registration) for
the certificate's name; the signature verifies over the exact payload; and the
certificate name may send it: a ``cert=`` caller must match ``plugin.x509.clients``, an
``identity=`` caller must match ``plugin.x509.nodes`` and may only send ``registration``
requests as its own sender. A reply is accepted when its certificate verifies the same
way, its name matches ``plugin.x509.nodes`` and is the reply's sender (a node signs only
its own replies), and the signature verifies.

Because the payload is the whole request, filter, agent, action, collective, ttl and
time cannot be changed without breaking the signature; replays within the TTL are the
daemon's replay cache's to drop.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from mcollective.errors import SecurityError
from mcollective.message import Reply, Request
from mcollective.security import ProvenIdentity, SecurityProvider
from mcollective_security_x509 import pki
from mcollective_security_x509.credentials import Own

log = logging.getLogger(__name__)

CERTIFICATE_FIELD = "certificate"
#: Delegated requests only (:mod:`.delegation`): the certificate of the caller for whom
#: ``certificate``'s holder signed.
CALLER_CERTIFICATE_FIELD = "caller_certificate"
SIGNATURE_FIELD = "signature"
#: The one agent a node certificate may send requests to (the daemon's registration).
REGISTRATION_AGENT = "registration"
CALLER_KIND = "cert"
NODE_KIND = "identity"

#: An RSA-8192 signature is 1024 bytes; ECDSA and ed25519 ones far less.
_SIGNATURE = re.compile(r"(?:[0-9a-f]{2}){32,1024}")


def payload_bytes(payload: str) -> bytes:
    # JSON escapes can put lone surrogates into a decoded payload; "surrogatepass" gives
    # them a definite encoding, so verification fails cleanly instead of raising.
    return payload.encode("utf-8", "surrogatepass")


def _action(request: Request) -> str:
    return f"{request.agent}.{request.action or '(no action)'}"


class X509Security(SecurityProvider):
    """Signs with this process's key and certificate; verifies against the CA."""

    name = "x509"

    def __init__(self, own: Own, authority: pki.Authority, *,
                 role: Literal["client", "server"], clients: tuple[str, ...] = (),
                 nodes: tuple[str, ...] = ("*",), delegators: tuple[str, ...] = (),
                 name_from: str = "cn", clock: Callable[[], float] = time.time) -> None:
        self.role = role
        self.own = own
        self.authority = authority
        self.clients = clients
        self.nodes = nodes
        self.delegators = delegators
        self.name_from = name_from
        self.clock = clock
        self._stale_warned = False

    def caller_id(self) -> str:
        return f"{CALLER_KIND}={self.own.certname}"

    # --- delegation and identity proofs (see .delegation) ----------------------------

    def delegate(self, caller: str, credential: str | None = None) -> SecurityProvider:
        from mcollective_security_x509.delegation import delegate

        return delegate(self, caller, credential)

    def identity_proof(self, challenge: str) -> str:
        from mcollective_security_x509.delegation import identity_proof

        return identity_proof(self, challenge)

    def verify_identity_proof(self, proof: str, challenge: str) -> ProvenIdentity:
        from mcollective_security_x509.delegation import verify_identity_proof

        return verify_identity_proof(self, proof, challenge)

    # --- signing ------------------------------------------------------------------------

    def signed(self, payload: str) -> dict[str, str]:
        return {CERTIFICATE_FIELD: self.own.wire,
                SIGNATURE_FIELD: pki.sign(self.own.key, payload_bytes(payload)).hex()}

    def own_problem(self) -> str | None:
        try:
            self.authority.verify(self.own.cert, self.clock())
        except pki.CertificateError as exc:
            return f"certificate {self.own.cert_path}: {exc}"
        return None

    def sign_request(self, payload: str, request: Request) -> Mapping[str, Any]:
        """Sign, after the checks nodes would make on this process's side, so the user
        learns why here rather than from "no responses"."""
        allowed = {self.caller_id(), f"{NODE_KIND}={self.own.certname}"}
        if request.caller not in allowed:
            raise SecurityError(f"request caller {request.caller!r} is not this process's "
                                f"certificate name ({self.caller_id()}); requests go out "
                                "as the certificate's name")
        problem = self.own_problem()
        if problem is not None:
            raise SecurityError(f"cannot sign with {problem}")
        return self.signed(payload)

    def sign_reply(self, payload: str, reply: Reply) -> Mapping[str, Any]:
        if not self._stale_warned:
            problem = self.own_problem()
            if problem is not None:
                # Clients drop these replies: say why in the daemon's log, once.
                self._stale_warned = True
                log.error("x509: clients will reject this node's replies: %s; replace the "
                          "certificate and restart", problem)
        return self.signed(payload)

    # --- verifying ----------------------------------------------------------------------

    def certificate(self, fields: Mapping[str, Any], what: str) -> tuple[str, pki.Verified]:
        raw = fields.get(CERTIFICATE_FIELD)
        if raw is None:
            raise SecurityError(f"{what} carries no x509 '{CERTIFICATE_FIELD}'")
        if not isinstance(raw, str):
            raise SecurityError(f"{what} has a malformed x509 '{CERTIFICATE_FIELD}' (a "
                                f"{type(raw).__name__}, not a string)")
        try:
            verified = self.authority.verify_encoded(raw, self.clock())
            name = verified.name(self.name_from)
        except pki.CertificateError as exc:
            raise SecurityError(f"{what}: {exc}") from None
        except ValueError as exc:
            raise SecurityError(f"{what} has a malformed x509 '{CERTIFICATE_FIELD}': "
                                f"{str(exc)[:200]}") from None
        return name, verified

    @staticmethod
    def check_signature(fields: Mapping[str, Any], payload: str, verified: pki.Verified,
                         name: str, what: str) -> None:
        signature = fields.get(SIGNATURE_FIELD)
        if signature is None:
            raise SecurityError(f"{what} carries no x509 '{SIGNATURE_FIELD}'")
        if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
            raise SecurityError(f"{what} has a malformed x509 '{SIGNATURE_FIELD}' (expected "
                                "lowercase hex)")
        try:
            key = pki.public_key_of(verified.cert)
        except pki.CertificateError as exc:
            raise SecurityError(f"{what}: the certificate of {name!r}: {exc}") from None
        if not pki.verify(key, bytes.fromhex(signature), payload_bytes(payload)):
            raise SecurityError(f"{what} does not match its signature: it was altered after "
                                f"signing, or signed by a key other than the one of the "
                                f"certificate of {name!r}")

    def verify_request(self, fields: Mapping[str, Any], payload: str,
                       request: Request) -> None:
        what = f"request {request.id} from {request.sender!r}"
        if CALLER_CERTIFICATE_FIELD in fields:
            from mcollective_security_x509.delegation import verify_delegated

            verify_delegated(self, fields, payload, request, what)
            return
        name, verified = self.certificate(fields, what)
        as_user, as_node = f"{CALLER_KIND}={name}", f"{NODE_KIND}={name}"
        if request.caller not in (as_user, as_node):
            raise SecurityError(f"{what} claims caller {request.caller!r}, but its "
                                f"certificate belongs to {as_user!r}")
        self.check_signature(fields, payload, verified, name, what)
        if request.caller == as_user:
            if not pki.matches(name, self.clients):
                raise SecurityError(f"{what}: certificate {name!r} may not send requests "
                                    "(it matches no pattern of plugin.x509.clients: "
                                    f"{', '.join(self.clients) or 'none set'})")
            return
        # A node's own registration, signed with its node certificate.
        if request.agent != REGISTRATION_AGENT:
            raise SecurityError(f"{what}: node certificate {name!r} may only send "
                                f"{REGISTRATION_AGENT} requests, not {_action(request)}")
        if request.sender != name:
            raise SecurityError(f"{what}: node certificate {name!r} can only send "
                                "registration requests as itself")
        if not pki.matches(name, self.nodes):
            raise SecurityError(f"{what}: certificate {name!r} matches no pattern of "
                                f"plugin.x509.nodes ({', '.join(self.nodes)})")

    def verify_reply(self, fields: Mapping[str, Any], payload: str, reply: Reply) -> None:
        what = f"reply to {reply.request} from {reply.sender!r}"
        name, verified = self.certificate(fields, what)
        if name != reply.sender:
            raise SecurityError(f"{what} is signed with the certificate of {name!r}: a "
                                "node can only sign its own replies")
        if not pki.matches(name, self.nodes):
            raise SecurityError(f"{what}: certificate {name!r} matches no pattern of "
                                f"plugin.x509.nodes ({', '.join(self.nodes)})")
        self.check_signature(fields, payload, verified, name, what)


__all__ = ["CERTIFICATE_FIELD", "SIGNATURE_FIELD", "X509Security"]
