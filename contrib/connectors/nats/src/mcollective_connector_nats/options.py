"""The ``plugin.nats.*`` settings, structured as the kombu connector's are.

``plugin.nats.url`` is one server or a failover list (``,`` or ``;`` separated) of
``nats://`` or ``tls://`` URLs. Each connection attempt takes the next server; after a
full round of failures the connector waits a pause that doubles from 0.1 s up to
``max_backoff``, jittered by ±50 %, and keeps trying (a daemon for ever, a client until
``connection_timeout``).

Credentials, first one set wins: the URL's own ``user:password@``, then
``plugin.nats.user``/``plugin.nats.password``, then ``MCOLLECTIVE_NATS_USER`` /
``MCOLLECTIVE_NATS_PASSWORD``; or a token (``plugin.nats.token`` /
``MCOLLECTIVE_NATS_TOKEN``); or NATS decentralised auth: a ``.creds`` file
(``plugin.nats.credentials``) or an NKEY seed file (``plugin.nats.nkey_seed``). TLS:
``tls://`` (or any ``plugin.nats.ssl_*`` key) with ``ssl_ca``, ``ssl_cert``, ``ssl_key``
and ``ssl_verify``. ``plugin.nats.account`` names the account in a client's reply
subjects (default: the login's user, else ``anonymous``): set it to the layout's
account when logging in with an NKEY or ``.creds`` (``mco nats accounts``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import voluptuous as vol

from mcollective.accounts import account_name
from mcollective.config import boolean, integer, number, optional, path, secret

if TYPE_CHECKING:
    import ssl

    from mcollective.config import Config

SCHEMES = ("nats", "tls")
DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_CONNECT_TIMEOUT = 10.0

ENV_USER = "MCOLLECTIVE_NATS_USER"
ENV_PASSWORD = "MCOLLECTIVE_NATS_PASSWORD"
ENV_TOKEN = "MCOLLECTIVE_NATS_TOKEN"

_SPLIT = re.compile(r"[;,\s]+")


def split_urls(value: Any) -> list[str]:
    return [u for u in _SPLIT.split(str(value).strip()) if u]


def check_url(value: Any) -> str:
    """One ``nats://``/``tls://`` URL or a failover list of them."""
    urls = split_urls(value)
    if not urls:
        raise vol.Invalid("a NATS server URL is needed, e.g. nats://127.0.0.1:4222")
    for url in urls:
        scheme, sep, _ = url.partition("://")
        if not sep or scheme.lower() not in SCHEMES:
            raise vol.Invalid(f"expected nats://host:port or tls://host:port, got {url!r}")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise vol.Invalid(f"bad NATS URL {url!r}: {exc}") from None
        if not parts.hostname:
            raise vol.Invalid(f"NATS URL {url!r} names no host")
    return ";".join(urls)


def mask(url: str) -> str:
    """``url`` with any password (or token in the user part) masked."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    userinfo = f"{user}:**" if parts.password is not None else "**"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def url_user(url: str) -> str | None:
    parts = urlsplit(url)
    return unquote(parts.username) if parts.username and parts.password is not None else None


def with_credentials(url: str, user: str | None, password: str | None) -> str:
    if not user:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        return url
    userinfo = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


@dataclass(frozen=True)
class TLSOptions:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True

    def context(self) -> ssl.SSLContext:
        import ssl

        context = ssl.create_default_context(cafile=self.ca)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert:
            context.load_cert_chain(self.cert, self.key)
        return context


SCHEMA: dict[str, Any] = {
    "url": check_url,
    "user": optional(str),
    "password": secret(optional(str)),
    "token": secret(optional(str)),
    "credentials": optional(path),
    "nkey_seed": optional(path),
    # An account of the collective layout: it becomes one token of the reply subjects.
    "account": optional(account_name),
    "ssl_ca": optional(path),
    "ssl_cert": optional(path),
    "ssl_key": optional(path),
    "ssl_verify": boolean,
    "max_backoff": number(0.05),
    "ping_interval": number(1),
    "pending_size": integer(0),
}

DEFAULTS: dict[str, Any] = {
    "url": DEFAULT_URL,
    "user": None,
    "password": None,
    "token": None,
    "credentials": None,
    "nkey_seed": None,
    "account": None,
    "ssl_ca": None,
    "ssl_cert": None,
    "ssl_key": None,
    "ssl_verify": True,
    "max_backoff": 5.0,
    "ping_interval": 30.0,
    "pending_size": 2 * 1024 * 1024,
}


@dataclass(frozen=True)
class NatsOptions:
    """Everything the connector needs from the configuration."""

    servers: tuple[str, ...]
    identity: str
    main_collective: str
    #: The account this process logs in as (names its reply subjects).
    account: str = "anonymous"
    token: str | None = None
    credentials: str | None = None
    nkey_seed: str | None = None
    tls: TLSOptions | None = None
    #: Longest pause between reconnection rounds (exponential back-off, jittered).
    max_backoff: float = 5.0
    #: Seconds between PINGs; two unanswered ones mean a dead connection. The only
    #: thing the connector does while idle.
    ping_interval: float = 30.0
    #: Bytes of publishes kept while reconnecting (sent once connected again).
    pending_size: int = 2 * 1024 * 1024
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    publish_timeout: float = 2.0

    @property
    def display(self) -> str:
        """Every server URL, passwords masked."""
        return ", ".join(mask(u) for u in self.servers)


def load_options(name: str, config: Config) -> NatsOptions:
    """Read and validate ``plugin.<name>.*`` (``name``: the entry-point name)."""
    raw = config.plugin_config(name, SCHEMA, DEFAULTS)
    user = raw["user"] or os.environ.get(ENV_USER) or None
    password = raw["password"] or os.environ.get(ENV_PASSWORD) or None
    token = raw["token"] or os.environ.get(ENV_TOKEN) or None
    servers = tuple(with_credentials(u, user, password) for u in split_urls(raw["url"]))
    # Names the reply subjects, which broker permissions give to one account
    # (accounts.py): the login's user, unless set (an NKEY or .creds login has none).
    account = (raw["account"] or next((u for u in map(url_user, servers) if u), None)
               or "anonymous")
    tls = None
    if (any(u.lower().startswith("tls://") for u in servers) or raw["ssl_ca"]
            or raw["ssl_cert"] or raw["ssl_key"]):
        tls = TLSOptions(raw["ssl_ca"], raw["ssl_cert"], raw["ssl_key"], raw["ssl_verify"])
    return NatsOptions(
        servers=servers, identity=config.identity, main_collective=config.main_collective,
        account=account, token=token, credentials=raw["credentials"],
        nkey_seed=raw["nkey_seed"], tls=tls, max_backoff=raw["max_backoff"],
        ping_interval=raw["ping_interval"], pending_size=raw["pending_size"],
        connect_timeout=config.connection_timeout or DEFAULT_CONNECT_TIMEOUT,
        publish_timeout=config.publish_timeout or 2.0)
