"""Shared builders for the jwt tests (a plain module with a unique name: the contrib test
directories may share one pytest run)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcollective.message import Request
from mcollective.testing.security import join_secure, sample_reply, sample_request, split_secure
from mcollective_security_jwt import keys, tokens
from mcollective_security_jwt.credentials import Credentials, OwnToken
from mcollective_security_jwt.provider import JwtSecurity

ISSUER = keys.generate()
OTHER_ISSUER = keys.generate()
ALICE = keys.generate()
BOB = keys.generate()
NODE1 = keys.generate()
NODE2 = keys.generate()

ALICE_AGENTS = ("rpcutil.*", "package.status")
HOUR = timedelta(hours=1)


def client_token(key: Ed25519PrivateKey = ALICE, *, callerid: str = "jwt=alice",
                 agents: tuple[str, ...] = ALICE_AGENTS, issuer: Ed25519PrivateKey = ISSUER,
                 validity: timedelta = HOUR, now: float | None = None) -> str:
    return tokens.issue_client(issuer, callerid=callerid, agents=agents,
                               public_key=keys.public_hex(key), validity=validity, now=now)


def server_token(key: Ed25519PrivateKey = NODE1, *, identity: str = "node1",
                 collectives: tuple[str, ...] = ("mcollective",),
                 issuer: Ed25519PrivateKey = ISSUER, validity: timedelta = HOUR,
                 now: float | None = None) -> str:
    return tokens.issue_server(issuer, identity=identity, collectives=collectives,
                               public_key=keys.public_hex(key), validity=validity, now=now)


def provider(role: str, key: Ed25519PrivateKey, token: str, *,
             issuers: tuple[Ed25519PrivateKey, ...] = (ISSUER,), **kwargs: Any
             ) -> JwtSecurity:
    """A provider built directly, without configuration (the token is not checked, so
    tests can give a process an unusable one)."""
    credentials = Credentials(tokens.Issuers(k.public_key() for k in issuers), key,
                              OwnToken(tokens.parse(token)))
    return JwtSecurity(credentials, role=role, **kwargs)  # type: ignore[arg-type]


def alice(**kwargs: Any) -> JwtSecurity:
    token = kwargs.pop("token", None) or client_token()
    return provider("client", kwargs.pop("key", ALICE), token, **kwargs)


def node1(**kwargs: Any) -> JwtSecurity:
    token = kwargs.pop("token", None) or server_token()
    return provider("server", kwargs.pop("key", NODE1), token, **kwargs)


def request(**overrides: Any) -> Request:
    return sample_request(**{"caller": "jwt=alice", **overrides})


reply = sample_reply
split = split_secure
join = join_secure


def write_identity(directory: Path, name: str, key: Ed25519PrivateKey, token: str
                   ) -> tuple[Path, Path]:
    """A private key file (0600) and a token file, as an operator would lay them out."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{name}.key"
    keys.write_key_pair(key_path, key, force=True)
    token_path = directory / f"{name}.token"
    token_path.write_text(token + "\n")
    return key_path, token_path


def write_issuer(directory: Path, key: Ed25519PrivateKey = ISSUER, name: str = "issuer"
                 ) -> Path:
    """The issuer's key pair; returns the public key file."""
    directory.mkdir(parents=True, exist_ok=True)
    return keys.write_key_pair(directory / f"{name}.key", key, force=True)
