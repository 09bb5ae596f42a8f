"""The jwt security provider: ed25519 signatures over the exact serialised message,
authorised by tokens from an organisation issuer.

Secure-layer fields (next to core's ``protocol``, ``security`` = ``"jwt"`` and the
``request``/``reply`` string):

``signature``
    128 lowercase hex characters: the ed25519 signature of the payload string (UTF-8)
    by the sender's private key.
``token``
    the sender's token (a JWT); its ``public_key`` claim verifies ``signature``.
``hash``
    replies only, and only when the daemon runs with ``plugin.jwt.sign_replies =
    false``: the SHA-256 hex of the reply string instead of a signature.
``signer``
    delegated requests only (:mod:`.delegation`): the token of the process that signed
    on behalf of the caller; ``token`` is then the caller's own token and ``signature``
    is made with the signer's key.

A request is accepted when, in this order: its token verifies against a trusted issuer
key; it is a client token (or a server token sending to the ``registration`` agent in
its own name and collectives); the token is inside its validity window (give or take
``clock_skew``); the request's ``caller`` is the token's caller id; the signature
verifies with the token's key over the exact payload; and the token's allow list covers
the request's agent and action.
Because the payload is the whole request, filter, agent, action, collective, ttl and
time cannot be changed without breaking the signature.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature

from mcollective.errors import SecurityError
from mcollective.message import Reply, Request
from mcollective.security import ProvenIdentity, SecurityProvider
from mcollective_security_jwt import allowlist
from mcollective_security_jwt.credentials import Credentials
from mcollective_security_jwt.tokens import (
    PURPOSE_CLIENT,
    PURPOSE_SERVER,
    Token,
    TokenError,
)

log = logging.getLogger(__name__)

SIGNATURE_FIELD = "signature"
TOKEN_FIELD = "token"
HASH_FIELD = "hash"
SIGNER_FIELD = "signer"
#: The one agent a server token may send requests to (the daemon's own registration).
REGISTRATION_AGENT = "registration"
#: Verified tokens kept, keyed by the token string; a fleet has few distinct tokens.
TOKEN_CACHE_SIZE = 1024

_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_HASH = re.compile(r"[0-9a-f]{64}")


def payload_bytes(payload: str) -> bytes:
    # JSON escapes can put lone surrogates into a decoded payload; "surrogatepass" gives
    # them a definite encoding, so verification fails cleanly instead of raising.
    return payload.encode("utf-8", "surrogatepass")


def _action(request: Request) -> str:
    return f"{request.agent}.{request.action or '(no action)'}"


class JwtSecurity(SecurityProvider):
    """Signs with this process's private key and token; verifies against the issuers."""

    name = "jwt"

    def __init__(self, credentials: Credentials, *, role: Literal["client", "server"],
                 sign_replies: bool = True, clock_skew: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.role = role
        self.sign_replies = sign_replies
        self.clock_skew = clock_skew
        self._credentials = credentials
        self._clock = clock
        # Verifying a token's signature is the costly part, and a token does not change
        # while it is valid: cache by the exact token string. Times are checked on every
        # use. Only tokens that verified are cached, so junk cannot fill the cache.
        self._verify_token: Callable[[str], Token] = functools.lru_cache(
            maxsize=TOKEN_CACHE_SIZE)(credentials.issuers.verify)
        self._stale_warned: str | None = None

    @property
    def token(self) -> Token:
        """The token this process presents (re-read when its file changes)."""
        return self._credentials.token.get()

    def caller_id(self) -> str:
        token = self.token
        if token.purpose == PURPOSE_CLIENT:
            assert token.callerid is not None
            return token.callerid
        return f"identity={token.identity}"

    # --- delegation and identity proofs (see .delegation) ----------------------------

    def delegate(self, caller: str, credential: str | None = None) -> SecurityProvider:
        from mcollective_security_jwt.delegation import delegate

        return delegate(self, caller, credential)

    def identity_proof(self, challenge: str) -> str:
        from mcollective_security_jwt.delegation import identity_proof

        return identity_proof(self, challenge)

    def verify_identity_proof(self, proof: str, challenge: str) -> ProvenIdentity:
        from mcollective_security_jwt.delegation import verify_identity_proof

        return verify_identity_proof(self, proof, challenge)

    def verified_token(self, raw: object, what: str) -> Token:
        """``raw`` as a token one of the trusted issuers signed (times not checked);
        SecurityError naming ``what`` otherwise."""
        return self._token({TOKEN_FIELD: raw}, what)

    def sign_bytes(self, data: bytes) -> str:
        """This process's ed25519 signature of ``data``, in hex."""
        return self._credentials.private_key.sign(data).hex()

    # --- signing --------------------------------------------------------------------

    def _signature(self, payload: str) -> str:
        return self._credentials.private_key.sign(payload_bytes(payload)).hex()

    def _signed(self, payload: str, token: Token) -> dict[str, str]:
        return {SIGNATURE_FIELD: self._signature(payload), TOKEN_FIELD: token.raw}

    def sign_request(self, payload: str, request: Request) -> Mapping[str, Any]:
        """Sign, after the checks servers would make, so the user learns why here rather
        than from "no responses"."""
        token = self.token
        expected = self.caller_id()
        if request.caller != expected:
            raise SecurityError(f"request caller {request.caller!r} is not the caller id of "
                                f"this process's token ({expected}); requests go out as "
                                "the token's caller")
        try:
            token.check_time(self._clock(), self.clock_skew)
        except TokenError as exc:
            raise SecurityError(f"cannot sign with plugin.jwt.token: {exc}") from None
        if token.purpose == PURPOSE_SERVER and request.agent != REGISTRATION_AGENT:
            raise SecurityError(f"a server token can only send {REGISTRATION_AGENT} "
                                f"requests, not {_action(request)}")
        if token.purpose == PURPOSE_CLIENT and not token.allows(request.agent,
                                                                request.action):
            raise SecurityError(
                f"your token for {token.callerid} does not allow {_action(request)} (it "
                f"allows {allowlist.describe(token.agents)}); ask your issuer for a token "
                f"whose --agents include '{request.agent}.{request.action or '*'}'")
        return self._signed(payload, token)

    def sign_reply(self, payload: str, reply: Reply) -> Mapping[str, Any]:
        if not self.sign_replies:
            return {HASH_FIELD: hashlib.sha256(payload_bytes(payload)).hexdigest()}
        token = self.token
        self._warn_if_stale(token)
        return self._signed(payload, token)

    def _warn_if_stale(self, token: Token) -> None:
        """Clients drop replies signed with an expired token; say so in the daemon's log
        (once per token) so the operator knows why this node went quiet."""
        try:
            token.check_time(self._clock(), self.clock_skew)
        except TokenError as exc:
            if self._stale_warned != token.jti:
                self._stale_warned = token.jti
                log.error("jwt: clients will reject this node's replies: %s; replace the "
                          "file plugin.jwt.token names (it is re-read when it changes)", exc)

    # --- verifying ------------------------------------------------------------------

    def _token(self, fields: Mapping[str, Any], what: str, hint: str = "") -> Token:
        raw = fields.get(TOKEN_FIELD)
        if raw is None:
            raise SecurityError(f"{what} carries no jwt '{TOKEN_FIELD}'{hint}")
        if not isinstance(raw, str):
            raise SecurityError(f"{what} has a malformed jwt '{TOKEN_FIELD}' (a "
                                f"{type(raw).__name__}, not a string)")
        try:
            return self._verify_token(raw)
        except TokenError as exc:
            raise SecurityError(f"{what}: {exc}") from None

    def _check_time(self, token: Token, what: str) -> None:
        try:
            token.check_time(self._clock(), self.clock_skew)
        except TokenError as exc:
            raise SecurityError(f"{what}: {exc}") from None

    def _check_signature(self, fields: Mapping[str, Any], payload: str, token: Token,
                         what: str) -> None:
        signature = fields.get(SIGNATURE_FIELD)
        if signature is None:
            raise SecurityError(f"{what} carries no jwt '{SIGNATURE_FIELD}'")
        if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
            raise SecurityError(f"{what} has a malformed jwt '{SIGNATURE_FIELD}' (expected "
                                "128 lowercase hex characters)")
        assert token.public_key is not None
        try:
            token.public_key.verify(bytes.fromhex(signature), payload_bytes(payload))
        except InvalidSignature:
            raise SecurityError(f"{what} does not match its signature: it was altered after "
                                f"signing, or signed by a key other than the one in "
                                f"{token.describe()}") from None

    def verify_request(self, fields: Mapping[str, Any], payload: str,
                       request: Request) -> None:
        what = f"request {request.id} from {request.sender!r}"
        if SIGNER_FIELD in fields:
            self._verify_delegated(fields, payload, request, what)
            return
        token = self._token(fields, what)
        if token.purpose == PURPOSE_SERVER:
            # A daemon signs its own registration messages with its server token.
            if request.agent != REGISTRATION_AGENT:
                raise SecurityError(f"{what} is signed with {token.describe()}: server tokens "
                                    f"may only send {REGISTRATION_AGENT} requests, not "
                                    f"{_action(request)}")
            if request.sender != token.identity:
                raise SecurityError(f"{what} is signed with {token.describe()}: a node can "
                                    "only send registration requests as itself")
            if request.collective not in token.collectives:
                raise SecurityError(f"{what} is for collective {request.collective!r}, "
                                    f"which {token.describe()} does not list")
            owner = f"identity={token.identity}"
        else:
            assert token.callerid is not None
            owner = token.callerid
        self._check_time(token, what)
        if request.caller != owner:
            raise SecurityError(f"{what} claims caller {request.caller!r}, but its token "
                                f"belongs to {owner!r}")
        self._check_signature(fields, payload, token, what)
        if token.purpose == PURPOSE_CLIENT and not token.allows(request.agent,
                                                                request.action):
            raise SecurityError(f"{what}: caller {owner} may not call {_action(request)} "
                                f"(token {token.jti} allows "
                                f"{allowlist.describe(token.agents)})")

    def _verify_delegated(self, fields: Mapping[str, Any], payload: str, request: Request,
                          what: str) -> None:
        """A request signed by a delegator for the caller whose token it carries: the
        signer's token must be a current client token with the ``delegator`` claim, the
        caller's token a current client token of a trusted issuer naming the request's
        caller, the signature the signer's, and the caller's allow list must cover the
        action (the signer's authority is to vouch for callers, not to act itself)."""
        signer = self._token({TOKEN_FIELD: fields.get(SIGNER_FIELD)}, f"{what} (signer)")
        if signer.purpose != PURPOSE_CLIENT or not signer.delegator:
            raise SecurityError(f"{what} is signed on behalf of {request.caller!r} by "
                                f"{signer.describe()}, which is not a delegator token "
                                "('mco security issue client --delegator')")
        self._check_time(signer, f"{what} (signer)")
        token = self._token(fields, what)
        if token.purpose != PURPOSE_CLIENT:
            raise SecurityError(f"{what} is delegated for {token.describe()}: only client "
                                "tokens can be delegated")
        self._check_time(token, what)
        if request.caller != token.callerid:
            raise SecurityError(f"{what} claims caller {request.caller!r}, but its token "
                                f"belongs to {token.callerid!r}")
        self._check_signature(fields, payload, signer, what)
        if not token.allows(request.agent, request.action):
            raise SecurityError(f"{what}: caller {token.callerid} may not call "
                                f"{_action(request)} (token {token.jti} allows "
                                f"{allowlist.describe(token.agents)})")
        log.debug("%s: delegated by %s", what, signer.describe())

    def verify_reply(self, fields: Mapping[str, Any], payload: str, reply: Reply) -> None:
        what = f"reply to {reply.request} from {reply.sender!r}"
        signed = TOKEN_FIELD in fields or SIGNATURE_FIELD in fields
        if not signed and not self.sign_replies:
            self._check_hash(fields, payload, what)
            return
        token = self._token(fields, what, hint=(
            "; servers sign replies unless they run with plugin.jwt.sign_replies = false, "
            "and then clients must set it false too" if not signed else ""))
        if token.purpose != PURPOSE_SERVER:
            raise SecurityError(f"{what} is signed with {token.describe()}: replies must be "
                                "signed with a server token")
        self._check_time(token, what)
        if token.identity != reply.sender:
            raise SecurityError(f"{what} is signed with the token of {token.identity!r}: a "
                                "node can only sign its own replies")
        self._check_signature(fields, payload, token, what)

    @staticmethod
    def _check_hash(fields: Mapping[str, Any], payload: str, what: str) -> None:
        digest = fields.get(HASH_FIELD)
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise SecurityError(f"{what} carries neither a jwt signature nor a valid "
                                f"'{HASH_FIELD}'")
        expected = hashlib.sha256(payload_bytes(payload)).hexdigest()
        if not hmac.compare_digest(digest, expected):
            raise SecurityError(f"{what} does not match its hash: it was altered")


__all__ = ["HASH_FIELD", "SIGNATURE_FIELD", "SIGNER_FIELD", "TOKEN_FIELD", "JwtSecurity"]
