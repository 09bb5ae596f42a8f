"""The ``plugin.kombu.*`` settings: schema, defaults, and what the URLs mean.

Validated through :meth:`mcollective.config.Config.plugin_config`, so a mistake is
reported with the file, line and full key. Only schemes whose semantics this connector
was checked against are accepted; anything else is a configuration error naming them.

Several URLs (``,`` or ``;`` separated) are failover brokers of one transport: the
connector tries them in turn, starting after the last one that worked.

Credentials, first one set wins: the URL's own ``user:password@``, then
``plugin.kombu.user``/``plugin.kombu.password``, then the environment
(``MCOLLECTIVE_KOMBU_USER``/``MCOLLECTIVE_KOMBU_PASSWORD``), so secrets can stay out of
configuration files. TLS: ``amqps://``/``rediss://`` (or any ``plugin.kombu.ssl_*``
key) with ``ssl_ca``, ``ssl_cert``, ``ssl_key`` and ``ssl_verify``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import voluptuous as vol

from mcollective.config import boolean, integer, number, optional, path

if TYPE_CHECKING:
    from mcollective.config import Config

#: URL scheme -> transport family (what the topology is adapted to).
FAMILIES: dict[str, str] = {
    "filesystem": "filesystem",
    "memory": "memory",
    "amqp": "amqp",
    "pyamqp": "amqp",
    "amqps": "amqp",
    "redis": "redis",
    "rediss": "redis",
    "sqs": "sqs",
}

#: Schemes that mean TLS by themselves.
TLS_SCHEMES = {"amqps", "rediss"}

#: ``polling_interval`` when not configured, per family. filesystem: the fallback
#: re-check of consumed queues; a doorbell wakes the consumer at once (and a doorbell
#: found full makes it look into every queue), so this costs no latency; it only
#: bounds how late a ring lost some other way is noticed. 5 s, like the janitor: at
#: 0.1 s every idle node woke ten times a second (0.35 % of a core each, 100 idle
#: nodes a third of a core; bench/cli.py measures it);
#: memory: the sleep between polls; redis: the BRPOP timeout, which is also how long
#: closing may wait for the pending BRPOP; sqs: the pause between empty receives
#: (each receive itself long-polls ``sqs_wait_time``); amqp pushes, nothing to poll.
DEFAULT_POLLING_INTERVAL: dict[str, float | None] = {
    "filesystem": 5.0,
    "memory": 0.01,
    "redis": 0.25,
    "sqs": 0.05,
    "amqp": None,
}

#: Seconds to keep trying to reach the broker when ``connection_timeout`` is unset.
DEFAULT_CONNECT_TIMEOUT = 10.0

ENV_USER = "MCOLLECTIVE_KOMBU_USER"
ENV_PASSWORD = "MCOLLECTIVE_KOMBU_PASSWORD"

_SPLIT = re.compile(r"[;,\s]+")


def split_urls(value: Any) -> list[str]:
    return [u for u in _SPLIT.split(str(value).strip()) if u]


def _check_one(text: str) -> str:
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise vol.Invalid(f"expected scheme://..., got {text!r}")
    if scheme.lower() not in FAMILIES:
        raise vol.Invalid(f"unsupported scheme {scheme!r}; supported: "
                          f"{', '.join(FAMILIES)}")
    if scheme.lower() == "filesystem":
        parts = urlsplit(text)
        if parts.netloc or parts.query or parts.fragment:
            raise vol.Invalid("expected filesystem:// or filesystem:///absolute/path, "
                              f"got {text!r}")
    return text


def check_url(value: Any) -> str:
    """Validate one broker URL or a failover list of them (without resolving defaults,
    which needs the statedir)."""
    urls = split_urls(value)
    if not urls:
        raise vol.Invalid("a broker URL is needed, e.g. filesystem://, amqp://host//, "
                          "redis://host:6379/0, sqs://")
    for url in urls:
        _check_one(url)
    families = {FAMILIES[u.partition("://")[0].lower()] for u in urls}
    if len(families) > 1:
        raise vol.Invalid("failover URLs must all use one transport, got "
                          f"{', '.join(sorted(families))}")
    if len(urls) > 1 and families & {"filesystem", "memory"}:
        raise vol.Invalid(f"{families.pop()}:// takes one URL, not a failover list")
    return ";".join(urls)


@dataclass(frozen=True)
class BrokerURL:
    """A validated broker URL and what it resolves to."""

    family: str
    url: str
    #: filesystem only: the broker directory.
    root: str | None = None

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower()

    @property
    def display(self) -> str:
        """The URL with any password masked, for messages and ``describe()``."""
        if self.family == "filesystem":
            return f"filesystem://{self.root}"
        from kombu.utils.url import maybe_sanitize_url

        return str(maybe_sanitize_url(self.url))


def resolve_url(url: str | None, statedir: os.PathLike[str] | str) -> BrokerURL:
    """The broker one URL designates; ``None`` or ``filesystem://`` mean the embedded
    broker in ``<statedir>/broker``."""
    if url is None:
        url = "filesystem://"
    scheme = url.partition("://")[0].lower()
    family = FAMILIES[scheme]
    if family == "filesystem":
        url_path = unquote(urlsplit(url).path)
        root = (url_path if url_path not in ("", "/")
                else os.path.join(os.fspath(statedir), "broker"))
        return BrokerURL(family, url, os.path.abspath(root))
    return BrokerURL(family, url)


def with_credentials(url: str, user: str | None, password: str | None) -> str:
    """``url`` with ``user``/``password`` filled in, unless it carries its own."""
    if not user and not password:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password or not parts.netloc:
        return url
    userinfo = quote(user or "", safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


@dataclass(frozen=True)
class TLSOptions:
    """Certificates for ``amqps://``/``rediss://`` (or TLS forced by ``ssl_*`` keys)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True

    def for_family(self, family: str) -> dict[str, Any]:
        """The ``ssl`` argument of :class:`kombu.Connection` for ``family``: py-amqp
        and redis-py spell the same things differently."""
        import ssl

        reqs = ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE
        if family == "redis":
            out: dict[str, Any] = {"ssl_cert_reqs": reqs}
            for key, value in (("ssl_ca_certs", self.ca), ("ssl_certfile", self.cert),
                               ("ssl_keyfile", self.key)):
                if value:
                    out[key] = value
            return out
        out = {"cert_reqs": reqs}
        for key, value in (("ca_certs", self.ca), ("certfile", self.cert),
                           ("keyfile", self.key)):
            if value:
                out[key] = value
        return out


#: Bounds of ``liveness_timeout``: renewals come every third of it from a loop that
#: ticks about once a second, and an SQS lease message stays in flight at most 12 hours.
LIVENESS_BOUNDS = (3.0, 43_200.0)


def check_liveness(value: Any) -> float:
    seconds = number(LIVENESS_BOUNDS[0])(value)
    if seconds > LIVENESS_BOUNDS[1]:
        raise vol.Invalid(f"must be at most {LIVENESS_BOUNDS[1]:g} (12 hours), got {seconds:g}")
    return seconds


SCHEMA: dict[str, Any] = {
    "url": check_url,
    "polling_interval": number(0.001),
    "heartbeat": number(0),
    "queue_expires": number(1),
    "janitor_interval": number(0),
    "liveness_timeout": check_liveness,
    "max_backoff": number(0.05),
    "user": optional(str),
    "password": optional(str),
    "ssl_ca": optional(path),
    "ssl_cert": optional(path),
    "ssl_key": optional(path),
    "ssl_verify": boolean,
    "sqs_region": optional(str),
    "sqs_secure": boolean,
    "sqs_retention": integer(60),
    "sqs_wait_time": integer(0),
    "sqs_reply_slots": integer(1),
}

DEFAULTS: dict[str, Any] = {
    "url": None,
    "polling_interval": None,
    "heartbeat": 30.0,
    "queue_expires": 300.0,
    "janitor_interval": 5.0,
    "liveness_timeout": 30.0,
    "max_backoff": 5.0,
    "user": None,
    "password": None,
    "ssl_ca": None,
    "ssl_cert": None,
    "ssl_key": None,
    "ssl_verify": True,
    "sqs_region": None,
    "sqs_secure": True,
    "sqs_retention": 60,
    "sqs_wait_time": 1,
    "sqs_reply_slots": 8,
}


@dataclass(frozen=True)
class KombuOptions:
    """Everything the connector needs from the configuration."""

    broker: BrokerURL
    identity: str
    main_collective: str
    #: The broker account this process logs in as; names its reply queue, so that
    #: broker permissions can give each account its own (``mco broker``).
    account: str = "local"
    #: Failover list; ``broker`` is its first entry.
    brokers: tuple[BrokerURL, ...] = ()
    #: See DEFAULT_POLLING_INTERVAL; ``None`` for push transports.
    polling_interval: float | None = None
    #: AMQP heartbeat in seconds (0 disables).
    heartbeat: float = 30.0
    #: AMQP ``x-expires`` of our queues: a backstop that removes a queue left unused
    #: (never consumed) this long, on top of exclusive/auto-delete.
    queue_expires: float = 300.0
    #: filesystem and redis: seconds between sweeps for dead processes' queues (0:
    #: only on connect); sqs: the fleet's pace (each daemon sweeps about this times the
    #: number of processes it sees; 0: once).
    janitor_interval: float = 5.0
    #: redis: a process that has not renewed its liveness key this long is dead and
    #: its lists are swept; sqs: the same, for its lease message (transports.SqsLease).
    #: Must comfortably exceed the longest GIL/IO stall.
    liveness_timeout: float = 30.0
    #: Longest pause between reconnection attempts (exponential back-off, jittered).
    max_backoff: float = 5.0
    tls: TLSOptions | None = None
    sqs_region: str = "us-east-1"
    sqs_secure: bool = True
    #: SQS ``MessageRetentionPeriod`` of our queues (AWS minimum 60 s).
    sqs_retention: int = 60
    #: SQS long-poll seconds per receive (bounds how long close() waits).
    sqs_wait_time: int = 1
    #: SQS: long-lived reply queues per client host (one per concurrent client).
    sqs_reply_slots: int = 8
    statedir: str = ""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    publish_timeout: float = 2.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.brokers:
            object.__setattr__(self, "brokers", (self.broker,))

    @property
    def display(self) -> str:
        """Every broker URL, passwords masked."""
        return ", ".join(b.display for b in self.brokers)


#: The account a transport logs in as when the URL names none.
DEFAULT_ACCOUNTS = {"amqp": "guest", "redis": "default"}


def broker_account(broker: BrokerURL) -> str:
    """The user name in the URL, else the transport's default user (``local`` where
    there are no accounts); made safe to stand in a queue name."""
    user = urlsplit(broker.url).username if broker.family in DEFAULT_ACCOUNTS else None
    name = unquote(user) if user else DEFAULT_ACCOUNTS.get(broker.family, "local")
    return re.sub(r"[^\w\-]", "_", name)


#: Transport family -> (module it needs, the extra of this distribution that brings it).
EXTRAS: dict[str, tuple[str, str]] = {
    "redis": ("redis", "redis"),
    "sqs": ("boto3", "sqs"),
}


def check_extra(family: str, name: str, config: Config) -> None:
    """A transport whose client library is an extra of this distribution: a
    one-line configuration error naming the extra when it is not installed."""
    import importlib.util

    needed = EXTRAS.get(family)
    if needed is None or importlib.util.find_spec(needed[0]) is not None:
        return
    from mcollective.errors import ConfigError

    module, extra = needed
    setting = config.source(f"plugin.{name}.url")
    raise ConfigError(
        f"{family}:// needs the {module} library, which is not installed: "
        f"pip install 'mcollective-connector-kombu[{extra}]'",
        file=setting.file if setting else None, line=setting.line if setting else None,
        key=f"plugin.{name}.url")


def load_options(name: str, config: Config) -> KombuOptions:
    """Read and validate ``plugin.<name>.*`` (``name`` is the entry-point name,
    ``kombu`` unless installed under another)."""
    raw = config.plugin_config(name, SCHEMA, DEFAULTS)
    user = raw["user"] or os.environ.get(ENV_USER) or None
    password = raw["password"] or os.environ.get(ENV_PASSWORD) or None
    urls = split_urls(raw["url"]) if raw["url"] else [None]
    brokers = tuple(resolve_url(with_credentials(u, user, password) if u else u,
                                config.statedir) for u in urls)
    broker = brokers[0]
    check_extra(broker.family, name, config)
    polling = raw["polling_interval"]
    if polling is None:
        polling = DEFAULT_POLLING_INTERVAL[broker.family]
    tls = None
    if broker.scheme in TLS_SCHEMES or raw["ssl_ca"] or raw["ssl_cert"] or raw["ssl_key"]:
        tls = TLSOptions(raw["ssl_ca"], raw["ssl_cert"], raw["ssl_key"], raw["ssl_verify"])
    region = (raw["sqs_region"] or os.environ.get("AWS_DEFAULT_REGION")
              or os.environ.get("AWS_REGION") or "us-east-1")
    return KombuOptions(
        broker=broker,
        brokers=brokers,
        account=broker_account(broker),
        identity=config.identity,
        main_collective=config.main_collective,
        polling_interval=polling,
        heartbeat=raw["heartbeat"],
        queue_expires=raw["queue_expires"],
        janitor_interval=raw["janitor_interval"],
        liveness_timeout=raw["liveness_timeout"],
        max_backoff=raw["max_backoff"],
        tls=tls,
        sqs_region=region,
        sqs_secure=raw["sqs_secure"],
        sqs_retention=raw["sqs_retention"],
        sqs_wait_time=min(raw["sqs_wait_time"], 20),
        sqs_reply_slots=raw["sqs_reply_slots"],
        statedir=os.fspath(config.statedir),
        connect_timeout=config.connection_timeout or DEFAULT_CONNECT_TIMEOUT,
        publish_timeout=config.publish_timeout or 2.0,
    )
