"""Caller and server tokens: EdDSA JWTs signed by an organisation issuer key.

Claims of every token (compare Choria's ``choria-io/tokens``):

``purpose``      ``client`` or ``server``
``public_key``   the holder's ed25519 public key, 64 hex characters
``iss``          ``I-`` and the issuer's public key in hex, so a receiver with several
                 trusted issuers (during a key rotation) knows which one to check
``jti``          a random token id, for audit logs and revocation lists
``iat``, ``nbf``, ``exp``   issued at, not before, expires (Unix seconds)

Client tokens add ``callerid`` (``kind=name``, the caller id put into requests) and
``agents`` (the allow list, see :mod:`.allowlist`), and optionally ``delegator``: true
for a token that may sign requests on behalf of other callers (a web console, as
Choria's AAA signer does; see :mod:`.provider`). Server tokens add ``identity`` and
``collectives``.

Parsing validates every claim before anything is trusted; :class:`Issuers` then checks
the issuer's signature. Times are checked separately (:meth:`Token.check_time`) because
they change while a token does not, which lets receivers cache verified tokens.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mcollective.config import COLLECTIVE_RE, IDENTITY_RE
from mcollective.security import CALLER_RE
from mcollective_security_jwt import allowlist
from mcollective_security_jwt.keys import HEX_KEY, public_from_hex, public_hex
from mcollective_security_jwt.timefmt import relative

ALGORITHM = "EdDSA"
PURPOSE_CLIENT = "client"
PURPOSE_SERVER = "server"
PURPOSES = (PURPOSE_CLIENT, PURPOSE_SERVER)
ISSUER_PREFIX = "I-"
#: Real tokens are well under 2 KiB; a bound keeps hostile input cheap to refuse.
MAX_TOKEN_LENGTH = 16 * 1024

_CALLER = re.compile(CALLER_RE)
# Signature checks only; claims and times are validated here, with our own messages.
_NO_CLAIM_CHECKS: Any = {
    "verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
    "verify_iss": False, "verify_sub": False, "verify_jti": False, "require": [],
}


class TokenError(Exception):
    """A token is unusable; the message says which token and why."""


class MalformedToken(TokenError):
    """Not a JWT, or claims missing or of the wrong form."""


class WrongIssuer(TokenError):
    """Issued by a key that is not a trusted issuer."""


class ForgedToken(TokenError):
    """Names a trusted issuer but its signature does not verify: forged or altered."""


class TokenExpired(TokenError):
    pass


class TokenNotYetValid(TokenError):
    pass


def issuer_name(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    return ISSUER_PREFIX + public_hex(key)


def reissue_hint(purpose: str) -> str:
    return f"issue a new one with 'mco security issue {purpose} ...'"


@dataclass(frozen=True)
class Token:
    """A parsed token. Only trust one returned by :meth:`Issuers.verify`."""

    raw: str = field(repr=False)
    purpose: str
    issuer: str
    jti: str
    issued_at: int
    not_before: int
    expires: int
    public_key_hex: str
    callerid: str | None = None
    agents: tuple[str, ...] = ()
    identity: str | None = None
    collectives: tuple[str, ...] = ()
    #: May sign requests for other callers (client tokens only).
    delegator: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    public_key: Ed25519PublicKey | None = field(default=None, repr=False, compare=False)

    @property
    def subject(self) -> str:
        """Whom the token is for: the caller id or the node identity."""
        return (self.callerid if self.purpose == PURPOSE_CLIENT else self.identity) or "?"

    def describe(self) -> str:
        return f"{self.purpose} token of {self.subject} (id {self.jti})"

    def check_time(self, now: float, skew: float = 0.0) -> None:
        """Raise unless ``now`` lies in [nbf - skew, exp + skew]."""
        if now > self.expires + skew:
            raise TokenExpired(f"{self.describe()} expired at "
                               f"{relative(self.expires, now)}; "
                               f"{reissue_hint(self.purpose)}")
        if now < self.not_before - skew:
            raise TokenNotYetValid(f"{self.describe()} is not valid before "
                                   f"{relative(self.not_before, now)}; check the clocks of "
                                   "this machine and of the issuer")

    def allows(self, agent: str, action: str | None) -> bool:
        return self.purpose == PURPOSE_CLIENT and allowlist.allows(self.agents, agent, action)


# --- issuing ------------------------------------------------------------------------


def _issue(issuer_key: Ed25519PrivateKey, purpose: str, public_key: str,
           validity: timedelta, extra: Mapping[str, Any], now: float | None) -> str:
    if not HEX_KEY.fullmatch(public_key):
        raise ValueError(f"public key {public_key!r} is not 64 hex characters")
    if validity.total_seconds() <= 0:
        raise ValueError("validity must be longer than zero")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "purpose": purpose,
        "public_key": public_key.lower(),
        "iss": issuer_name(issuer_key),
        "jti": uuid.uuid4().hex,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(validity.total_seconds()),
        **extra,
    }
    return jwt.encode(claims, issuer_key, algorithm=ALGORITHM, headers={"typ": "JWT"})


def issue_client(issuer_key: Ed25519PrivateKey, *, callerid: str, agents: Iterable[str],
                 public_key: str, validity: timedelta, now: float | None = None,
                 delegator: bool = False) -> str:
    """A client token for ``callerid`` (``kind=name``; a bare name becomes ``jwt=name``);
    ``delegator`` lets its holder sign requests on behalf of other callers."""
    if "=" not in callerid:
        callerid = f"jwt={callerid}"
    if not _CALLER.fullmatch(callerid):
        raise ValueError(f"caller id {callerid!r} does not match {CALLER_RE}")
    extra: dict[str, Any] = {"callerid": callerid, "agents": list(allowlist.parse(agents))}
    if delegator:
        extra["delegator"] = True
    return _issue(issuer_key, PURPOSE_CLIENT, public_key, validity, extra, now)


def issue_server(issuer_key: Ed25519PrivateKey, *, identity: str,
                 collectives: Sequence[str], public_key: str, validity: timedelta,
                 now: float | None = None) -> str:
    """A server token for the node ``identity`` in ``collectives``."""
    if not IDENTITY_RE.match(identity) or "\n" in identity:
        raise ValueError(f"identity {identity!r} must match {IDENTITY_RE.pattern}")
    if not collectives:
        raise ValueError("a server token needs at least one collective")
    for c in collectives:
        if not COLLECTIVE_RE.match(c) or "\n" in c:
            raise ValueError(f"collective {c!r} must match {COLLECTIVE_RE.pattern}")
    return _issue(issuer_key, PURPOSE_SERVER, public_key, validity,
                  {"identity": identity, "collectives": list(dict.fromkeys(collectives))},
                  now)


# --- reading ------------------------------------------------------------------------


def _claim(claims: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    if name not in claims:
        raise MalformedToken(f"{what} has no '{name}' claim")
    value = claims[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedToken(f"{what} claim '{name}' is not a {kind.__name__}")
    return value


def _string_list(claims: Mapping[str, Any], name: str, what: str) -> list[str]:
    value = _claim(claims, name, list, what)
    if not all(isinstance(item, str) for item in value):
        raise MalformedToken(f"{what} claim '{name}' must be a list of strings")
    return value


def _from_claims(raw: str, claims: Mapping[str, Any]) -> Token:
    what = "token"
    purpose = _claim(claims, "purpose", str, what)
    if purpose not in PURPOSES:
        raise MalformedToken(f"token purpose {purpose[:40]!r} is neither 'client' nor "
                             "'server'")
    what = f"{purpose} token"
    issuer = _claim(claims, "iss", str, what)
    if not (issuer.startswith(ISSUER_PREFIX)
            and HEX_KEY.fullmatch(issuer[len(ISSUER_PREFIX):])):
        raise MalformedToken(f"{what} issuer {issuer[:80]!r} is not 'I-' and 64 hex "
                             "characters")
    jti = _claim(claims, "jti", str, what)
    if not 0 < len(jti) <= 128:
        raise MalformedToken(f"{what} id (jti) must be 1 to 128 characters")
    times = {name: _claim(claims, name, int, what) for name in ("iat", "nbf", "exp")}
    if times["exp"] <= times["nbf"]:
        raise MalformedToken(f"{what} expires (exp) before it becomes valid (nbf)")
    public = _claim(claims, "public_key", str, what)
    if not HEX_KEY.fullmatch(public):
        raise MalformedToken(f"{what} public_key is not 64 hex characters")
    common: dict[str, Any] = {
        "raw": raw, "purpose": purpose,
        "issuer": ISSUER_PREFIX + issuer[len(ISSUER_PREFIX):].lower(), "jti": jti,
        "issued_at": times["iat"], "not_before": times["nbf"], "expires": times["exp"],
        "public_key_hex": public.lower(), "claims": dict(claims),
        "public_key": public_from_hex(public),
    }
    if purpose == PURPOSE_CLIENT:
        callerid = _claim(claims, "callerid", str, what)
        if not _CALLER.fullmatch(callerid):
            raise MalformedToken(f"{what} callerid {callerid[:80]!r} does not match "
                                 f"{CALLER_RE}")
        try:
            agents = allowlist.parse(_string_list(claims, "agents", what))
        except ValueError as exc:
            raise MalformedToken(f"{what} of {callerid}: {exc}") from None
        delegator = claims.get("delegator", False)
        if not isinstance(delegator, bool):
            raise MalformedToken(f"{what} of {callerid}: claim 'delegator' is not a "
                                 "boolean")
        return Token(callerid=callerid, agents=agents, delegator=delegator, **common)
    identity = _claim(claims, "identity", str, what)
    if not IDENTITY_RE.match(identity) or "\n" in identity:
        raise MalformedToken(f"{what} identity {identity[:80]!r} must match "
                             f"{IDENTITY_RE.pattern}")
    collectives = _string_list(claims, "collectives", what)
    if not collectives or not all(COLLECTIVE_RE.match(c) and "\n" not in c
                                  for c in collectives):
        raise MalformedToken(f"{what} of {identity} has no valid 'collectives' claim")
    return Token(identity=identity, collectives=tuple(collectives), **common)


def parse(raw: object) -> Token:
    """Parse and validate a token *without* checking its signature (for inspection, and
    before choosing the issuer key to check it with)."""
    if not isinstance(raw, str):
        raise MalformedToken(f"token is a {type(raw).__name__}, not a string")
    raw = raw.strip()
    if not raw:
        raise MalformedToken("token is empty")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise MalformedToken(f"token is {len(raw)} characters long, more than "
                             f"{MAX_TOKEN_LENGTH}")
    try:
        header = jwt.get_unverified_header(raw)
        claims = jwt.decode(raw, options={"verify_signature": False, **_NO_CLAIM_CHECKS})
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise MalformedToken(f"token is not a JWT ({exc})") from None
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise MalformedToken(f"token is signed with algorithm {str(alg)[:20]!r}; only "
                             f"{ALGORITHM} (ed25519) tokens are accepted")
    if not isinstance(claims, dict):
        raise MalformedToken("token claims are not a JSON object")
    return _from_claims(raw, claims)


class Issuers:
    """The trusted organisation issuer keys (more than one while rotating keys)."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        self._keys = {issuer_name(k): k for k in keys}
        if not self._keys:
            raise ValueError("at least one issuer public key is needed")

    @property
    def names(self) -> list[str]:
        return list(self._keys)

    def __contains__(self, issuer: str) -> bool:
        return issuer in self._keys

    def describe(self) -> str:
        return ", ".join(name[: len(ISSUER_PREFIX) + 16] + "..." for name in self._keys)

    def verify(self, raw: object) -> Token:
        """The token in ``raw`` if one of these issuers signed it; times not checked."""
        token = parse(raw)
        key = self._keys.get(token.issuer)
        if key is None:
            raise WrongIssuer(f"{token.describe()} was issued by {token.issuer}, which is "
                              f"not a trusted issuer (trusted: {self.describe()}); have it "
                              "issued with a trusted issuer key, or add its issuer's public "
                              "key to plugin.jwt.issuer_public_key")
        try:
            jwt.decode(token.raw, key, algorithms=[ALGORITHM], options=_NO_CLAIM_CHECKS)
        except jwt.InvalidSignatureError:
            raise ForgedToken(f"{token.describe()} does not carry a valid signature of "
                              f"its issuer {token.issuer[:18]}...: it was forged or "
                              "altered") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise MalformedToken(f"{token.describe()} is malformed ({exc})") from None
        return token
