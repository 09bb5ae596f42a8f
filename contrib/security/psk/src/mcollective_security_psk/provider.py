"""The psk security provider: HMAC-SHA256 over the exact serialised message.

Secure-layer fields added to every request and reply:

``signature``
    64 lowercase hex characters, HMAC-SHA256 of the serialised payload (the request or
    reply JSON string exactly as carried in the secure layer) under the shared key.
``key_id``
    16 hex characters fingerprinting the key that signed, so that a receiver with a
    different key says so instead of reporting tampering.

Because the payload is the whole request, the filter, agent, collective, ttl, time,
sender and caller are all covered: changing any of them invalidates the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

from mcollective.errors import SecurityError
from mcollective.message import Reply, Request
from mcollective.security import CALLER_RE, SecurityProvider
from mcollective_security_psk.caller import is_valid_caller
from mcollective_security_psk.keys import SharedKey

SIGNATURE_FIELD = "signature"
KEY_ID_FIELD = "key_id"

_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


def _payload_bytes(payload: str) -> bytes:
    # JSON escapes can put lone surrogates into a decoded payload; "surrogatepass" gives
    # them a definite encoding so that verification fails cleanly instead of raising.
    return payload.encode("utf-8", "surrogatepass")


class PskSecurity(SecurityProvider):
    """Signs with, and verifies against, one shared key."""

    name = "psk"

    def __init__(self, key: SharedKey, caller: str) -> None:
        if not is_valid_caller(caller):
            raise ValueError(f"caller id {caller!r} does not match {CALLER_RE}")
        self._key = key
        self._caller = caller
        # HMAC-SHA256 keyed once: each signature copies it (the key's padded blocks
        # already hashed), about a third cheaper than a one-shot hmac.digest.
        self._hmac = hmac.new(key.secret, digestmod=hashlib.sha256)

    @property
    def key_source(self) -> str:
        """Where the key came from (``plugin.psk``, the environment, a key file)."""
        return self._key.source

    @property
    def key_id(self) -> str:
        return self._key.key_id

    def caller_id(self) -> str:
        return self._caller

    def delegate(self, caller: str, credential: str | None = None) -> PskSecurity:
        """The same key, another caller id: with a pre-shared key every holder of the
        key can sign as any caller, so a console holding it signs each user's requests
        in that user's name (the caller id stays informative, not proof; see
        docs/security.md)."""
        if not is_valid_caller(caller):
            raise SecurityError(f"caller id {caller!r} does not match {CALLER_RE}")
        return PskSecurity(self._key, caller)

    # --- signing --------------------------------------------------------------------

    def _signature(self, payload: str) -> str:
        mac = self._hmac.copy()
        mac.update(_payload_bytes(payload))
        return mac.hexdigest()

    def _fields(self, payload: str) -> dict[str, str]:
        return {SIGNATURE_FIELD: self._signature(payload), KEY_ID_FIELD: self._key.key_id}

    def sign_request(self, payload: str, request: Request) -> Mapping[str, Any]:
        if not is_valid_caller(request.caller):
            # Servers would drop it anyway; failing here tells the client why.
            raise SecurityError(f"caller id {request.caller!r} does not match {CALLER_RE}")
        return self._fields(payload)

    def sign_reply(self, payload: str, reply: Reply) -> Mapping[str, Any]:
        return self._fields(payload)

    # --- verifying ------------------------------------------------------------------

    def _verify(self, what: str | Callable[[], str], fields: Mapping[str, Any],
                payload: str) -> None:
        signature = fields.get(SIGNATURE_FIELD)
        key_id = fields.get(KEY_ID_FIELD)
        if (type(signature) is str and signature.isascii() and key_id == self._key.key_id
                and hmac.compare_digest(signature, self._signature(payload))):
            return  # the usual case, without the checks that explain a failure
        if callable(what):
            what = what()
        if signature is None:
            raise SecurityError(f"{what} carries no psk '{SIGNATURE_FIELD}'")
        if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
            raise SecurityError(f"{what} has a malformed psk '{SIGNATURE_FIELD}' "
                                "(expected 64 lowercase hex characters)")
        if key_id is None:
            raise SecurityError(f"{what} carries no psk '{KEY_ID_FIELD}'")
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise SecurityError(f"{what} has a malformed psk '{KEY_ID_FIELD}' "
                                "(expected 16 lowercase hex characters)")
        if not hmac.compare_digest(key_id, self._key.key_id):
            raise SecurityError(
                f"{what} was signed with a different pre-shared key (key id {key_id}; "
                f"this process uses key id {self._key.key_id} from {self._key.source})")
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise SecurityError(f"{what} does not match its psk signature: it was altered "
                                "after signing")

    def verify_request(self, fields: Mapping[str, Any], payload: str,
                       request: Request) -> None:
        self._verify(lambda: f"request {request.id} from {request.sender!r}", fields,
                     payload)
        if not is_valid_caller(request.caller):
            what = f"request {request.id} from {request.sender!r}"
            raise SecurityError(f"{what} has an invalid caller id {request.caller!r} "
                                f"(must match {CALLER_RE})")

    def verify_reply(self, fields: Mapping[str, Any], payload: str, reply: Reply) -> None:
        self._verify(lambda: f"reply to {reply.request} from {reply.sender!r}", fields,
                     payload)
