"""This process's key material: trusted issuers, its own private key and its own token.

Everything is read and cross-checked when the provider is created, so a mistake stops a
client or a daemon at start-up with one :class:`ConfigError` that names the key and says
what to do, instead of failing every message later. The token file is re-read when it
changes (checked at most every few seconds), so a renewed token takes effect without a
restart; a renewed token that does not pass the same checks is refused and logged, and
the current one stays in use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcollective.errors import ConfigError
from mcollective_security_jwt.keys import (
    KeyFileError,
    load_private_key,
    load_public_key,
    public_hex,
    read_file,
)
from mcollective_security_jwt.settings import PLUGIN, JwtSettings
from mcollective_security_jwt.tokens import (
    PURPOSE_CLIENT,
    PURPOSE_SERVER,
    Issuers,
    Token,
    TokenError,
)

if TYPE_CHECKING:
    from mcollective.config import Config

log = logging.getLogger(__name__)

Role = Literal["client", "server"]
#: How often, at most, the token file's status is looked at for a renewal.
RELOAD_INTERVAL = 5.0

_MISSING = {
    "issuer_public_key": "give your organisation issuer's public key: 64 hex characters, "
                         "or the ISSUER.pub file 'mco security keygen --out ISSUER' wrote",
    "private_key": "make a key pair with 'mco security keygen --out FILE' and set "
                   "plugin.jwt.private_key = FILE",
    "token": "have the issuer run 'mco security issue {role} ... --public-key FILE.pub "
             "--out TOKEN' for this {what} and set plugin.jwt.token = TOKEN",
}


def config_error(config: Config, key: str, message: str) -> ConfigError:
    """A ConfigError pointing at ``plugin.jwt.<key>`` where it is set, else at the file."""
    full = f"plugin.{PLUGIN}.{key}"
    where = config.source(full)
    return ConfigError(message, file=where.file if where else
                       (str(config.path) if config.path else None),
                       line=where.line if where else None, key=full)


def _require(config: Config, key: str, value: object, role: Role) -> None:
    if value is None:
        what = "client" if role == "client" else "node"
        raise config_error(config, key, "is not set: " +
                           _MISSING[key].format(role=role, what=what))


def check_own_token(raw: str, *, issuers: Issuers, private_key: Ed25519PrivateKey,
                    role: Role, identity: str, collectives: list[str], skew: float,
                    now: float | None = None) -> Token:
    """The token this process presents, if it can be used; ValueError or TokenError
    (with a message saying what to do) if not."""
    token = issuers.verify(raw)
    wanted = PURPOSE_CLIENT if role == "client" else PURPOSE_SERVER
    if token.purpose != wanted:
        raise ValueError(f"this is a {token.purpose} token, but a {role} needs a {wanted} "
                         f"token: 'mco security issue {wanted} ...'")
    mine = public_hex(private_key)
    if token.public_key_hex != mine:
        raise ValueError(f"{token.describe()} was issued for public key "
                         f"{token.public_key_hex[:16]}..., but plugin.jwt.private_key holds "
                         f"the key of {mine[:16]}...; issue a token for this key "
                         "(--public-key PRIVATE_KEY.pub) or use the matching private key")
    token.check_time(time.time() if now is None else now, skew)
    if role == "server":
        if token.identity != identity:
            raise ValueError(f"{token.describe()} is for identity {token.identity!r}, but "
                             f"this node's identity is {identity!r}; issue a server token "
                             f"with --identity {identity}")
        missing = [c for c in collectives if c not in token.collectives]
        if missing:
            raise ValueError(f"this node is in collective(s) {', '.join(missing)}, which "
                             f"its token does not list ({', '.join(token.collectives)}); "
                             f"issue a server token with --collectives "
                             f"{','.join(collectives)}")
    return token


class OwnToken:
    """The current token of this process, re-read when its file changes."""

    def __init__(self, token: Token, *, path: Path | None = None,
                 check: Callable[[str], Token] | None = None,
                 interval: float = RELOAD_INTERVAL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._token = token
        self._path = path
        self._check = check
        self._interval = interval
        self._monotonic = monotonic
        self._next = monotonic() + interval
        self._stamp = self._status()
        self._lock = threading.Lock()

    def _status(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def get(self) -> Token:
        if self._path is None or self._check is None or self._monotonic() < self._next:
            return self._token
        with self._lock:
            if self._monotonic() < self._next:
                return self._token
            self._next = self._monotonic() + self._interval
            stamp = self._status()
            if stamp is None or stamp == self._stamp:
                return self._token
            self._stamp = stamp
            try:
                raw = read_file(self._path).decode("utf-8", "replace")
                token = self._check(raw)
            except (KeyFileError, TokenError, ValueError) as exc:
                log.error("jwt: the token in %s changed but cannot be used, keeping %s: %s",
                          self._path, self._token.describe(), exc)
                return self._token
            if token.raw != self._token.raw:
                log.info("jwt: now using %s from %s", token.describe(), self._path)
                self._token = token
            return self._token


@dataclass(frozen=True)
class Credentials:
    issuers: Issuers
    private_key: Ed25519PrivateKey
    token: OwnToken


def load_issuers(config: Config, specs: tuple[str, ...]) -> Issuers:
    keys = []
    for spec in specs:
        try:
            keys.append(load_public_key(spec, config.resolve_path))
        except KeyFileError as exc:
            raise config_error(config, "issuer_public_key", str(exc)) from None
    return Issuers(keys)


def load_credentials(settings: JwtSettings, config: Config, role: Role,
                     now: float | None = None) -> Credentials:
    """Read and cross-check everything, or raise ConfigError saying what to fix."""
    _require(config, "issuer_public_key", settings.issuer_public_keys, role)
    _require(config, "private_key", settings.private_key, role)
    _require(config, "token", settings.token, role)
    assert settings.issuer_public_keys and settings.private_key and settings.token
    issuers = load_issuers(config, settings.issuer_public_keys)
    try:
        private_key = load_private_key(config.resolve_path(settings.private_key))
    except KeyFileError as exc:
        raise config_error(config, "private_key", str(exc)) from None
    token_path = config.resolve_path(settings.token)

    def check(raw: str, at: float | None = None) -> Token:
        return check_own_token(raw, issuers=issuers, private_key=private_key, role=role,
                               identity=config.identity,
                               collectives=list(config.collectives),
                               skew=settings.clock_skew, now=at)

    try:
        raw = read_file(token_path).decode("utf-8", "replace")
        token = check(raw, now)
    except (KeyFileError, TokenError, ValueError) as exc:
        raise config_error(config, "token", f"{token_path}: {exc}") from None
    return Credentials(issuers, private_key, OwnToken(token, path=token_path, check=check))
