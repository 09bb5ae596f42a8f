"""Signing on behalf of other callers, and proving who you are to a process that does.

A process acting for many users (the web console, ``mcollective-web``) cannot hold every
user's private key. As Choria's AAA signer does, it holds a client token with the
``delegator`` claim (``mco security issue client --delegator ...``) and signs each
user's requests with its own key, carrying the user's token in ``token`` and its own in
``signer``. Nodes accept such a request only when both tokens come from a trusted
issuer and are current, the signer's token is a delegator token, the request's caller
is the user's token's caller id and the user's allow list covers the action
(:meth:`JwtSecurity._verify_delegated`). Authorization plugins and the audit log then
see the user, not the console.

A user proves to such a process who they are without handing over their private key:
the process shows a random challenge, the user's own ``mco`` signs it with the user's
key (``mco web prove CHALLENGE``), and the proof (the user's token, a dot, the
signature) is checked against the issuers. The signed bytes are prefixed with a fixed
context, so a proof can never pass for a signed request or the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature

from mcollective.errors import SecurityError
from mcollective.message import Reply, Request
from mcollective.security import ProvenIdentity, SecurityProvider
from mcollective_security_jwt import allowlist
from mcollective_security_jwt.provider import (
    SIGNATURE_FIELD,
    SIGNER_FIELD,
    TOKEN_FIELD,
    payload_bytes,
)
from mcollective_security_jwt.tokens import MAX_TOKEN_LENGTH, PURPOSE_CLIENT, Token

if TYPE_CHECKING:
    from mcollective_security_jwt.provider import JwtSecurity

PROOF_CONTEXT = b"mcollective identity proof\x00"
#: Challenges are nonces a console makes; a bound keeps hostile input cheap to refuse.
MAX_CHALLENGE = 256
_SIGNATURE = re.compile(r"[0-9a-f]{128}")


def _client_token(provider: JwtSecurity, raw: object, what: str) -> Token:
    token = provider.verified_token(raw, what)
    if token.purpose != PURPOSE_CLIENT:
        raise SecurityError(f"{what} is a {token.purpose} token; only client tokens "
                            "identify callers")
    provider._check_time(token, what)
    return token


def delegate(provider: JwtSecurity, caller: str, credential: str | None
             ) -> DelegatedJwtSecurity:
    """A provider signing as ``caller``, whose client token is ``credential``."""
    own = provider.token
    if own.purpose != PURPOSE_CLIENT or not own.delegator:
        raise SecurityError(f"cannot sign on behalf of {caller}: plugin.jwt.token holds "
                            f"{own.describe()}, which is not a delegator token; issue "
                            "this process's token with 'mco security issue client "
                            "--delegator ...'")
    if not credential:
        raise SecurityError(f"cannot sign on behalf of {caller}: the jwt security plugin "
                            f"needs {caller}'s own client token (sign in with a proof "
                            "made by 'mco web prove', or give the account a token file)")
    token = _client_token(provider, credential, f"the token of {caller}")
    if token.callerid != caller:
        raise SecurityError(f"the token given for {caller} belongs to {token.callerid}")
    return DelegatedJwtSecurity(provider, token)


class DelegatedJwtSecurity(SecurityProvider):
    """Signs as the caller of ``token`` with the delegator ``signer``'s key; verifies
    replies as ``signer`` does."""

    name = "jwt"

    def __init__(self, signer: JwtSecurity, token: Token) -> None:
        self.signer = signer
        self.caller_token = token

    def caller_id(self) -> str:
        assert self.caller_token.callerid is not None
        return self.caller_token.callerid

    def sign_request(self, payload: str, request: Request) -> Mapping[str, Any]:
        """Sign after the checks nodes make, so the user learns why here."""
        token, signer = self.caller_token, self.signer
        if request.caller != token.callerid:
            raise SecurityError(f"request caller {request.caller!r} is not "
                                f"{token.callerid}, for whom this provider signs")
        signer._check_time(token, f"the token of {token.callerid}")
        signer._check_time(signer.token, "this process's delegator token")
        if not token.allows(request.agent, request.action):
            raise SecurityError(
                f"the token of {token.callerid} does not allow "
                f"{request.agent}.{request.action or '(no action)'} (it allows "
                f"{allowlist.describe(token.agents)})")
        return {SIGNATURE_FIELD: signer.sign_bytes(payload_bytes(payload)),
                TOKEN_FIELD: token.raw, SIGNER_FIELD: signer.token.raw}

    def verify_request(self, fields: Mapping[str, Any], payload: str,
                       request: Request) -> None:
        self.signer.verify_request(fields, payload, request)

    def sign_reply(self, payload: str, reply: Reply) -> Mapping[str, Any]:
        return self.signer.sign_reply(payload, reply)

    def verify_reply(self, fields: Mapping[str, Any], payload: str, reply: Reply) -> None:
        self.signer.verify_reply(fields, payload, reply)

    def delegate(self, caller: str, credential: str | None = None) -> SecurityProvider:
        return self.signer.delegate(caller, credential)


def _challenge_bytes(challenge: str) -> bytes:
    if not isinstance(challenge, str) or not 0 < len(challenge) <= MAX_CHALLENGE:
        raise SecurityError(f"a challenge is 1 to {MAX_CHALLENGE} characters")
    return PROOF_CONTEXT + challenge.encode("utf-8", "surrogatepass")


def identity_proof(provider: JwtSecurity, challenge: str) -> str:
    """This process's token and its signature of ``challenge``, as one line."""
    token = provider.token
    if token.purpose != PURPOSE_CLIENT:
        raise SecurityError(f"plugin.jwt.token holds {token.describe()}; only a client "
                            "token proves who a user is")
    provider._check_time(token, "plugin.jwt.token")
    return f"{token.raw}.{provider.sign_bytes(_challenge_bytes(challenge))}"


def verify_identity_proof(provider: JwtSecurity, proof: str, challenge: str
                          ) -> ProvenIdentity:
    """The caller ``proof`` proves to be, given the ``challenge`` it must answer."""
    message = _challenge_bytes(challenge)
    if not isinstance(proof, str) or len(proof) > MAX_TOKEN_LENGTH + 200:
        raise SecurityError("the proof is not the line 'mco web prove' printed")
    raw, _, signature = proof.strip().rpartition(".")
    if not raw or not _SIGNATURE.fullmatch(signature):
        raise SecurityError("the proof is not the line 'mco web prove' printed (a token, "
                            "a dot and 128 hex characters)")
    token = _client_token(provider, raw, "the proof's token")
    assert token.public_key is not None
    try:
        token.public_key.verify(bytes.fromhex(signature), message)
    except InvalidSignature:
        raise SecurityError(f"the proof does not answer this challenge, or was not made "
                            f"with the key of {token.describe()}") from None
    assert token.callerid is not None
    return ProvenIdentity(token.callerid, token.raw, float(token.expires))


__all__ = ["PROOF_CONTEXT", "DelegatedJwtSecurity", "delegate", "identity_proof",
           "verify_identity_proof"]
