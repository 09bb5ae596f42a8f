"""The ``plugin.kombu.*`` settings: schema, defaults, and what the URL means.

Validated through :meth:`mcollective.config.Config.plugin_config`, so a mistake is
reported with the file, line and full key. Only schemes whose semantics this connector
was checked against are accepted; anything else is a configuration error naming them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import voluptuous as vol

from mcollective.config import number

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
}

#: ``polling_interval`` when not configured, per family. filesystem: the fallback
#: re-check of consumed queues; a doorbell wakes the consumer at once, so this costs
#: no latency, and 0.1 s (measured: 0.35 % idle CPU for a node with three queues)
#: is much cheaper than 0.01 s (1.1 %);
#: memory: the sleep between polls; redis: the BRPOP timeout, which is also how long
#: closing may wait for the pending BRPOP; amqp pushes, nothing to poll.
DEFAULT_POLLING_INTERVAL: dict[str, float | None] = {
    "filesystem": 0.1,
    "memory": 0.01,
    "redis": 0.25,
    "amqp": None,
}

#: Seconds to keep trying to reach the broker when ``connection_timeout`` is unset.
DEFAULT_CONNECT_TIMEOUT = 10.0


def check_url(value: Any) -> str:
    """Validate a broker URL without resolving defaults (that needs the statedir)."""
    text = str(value).strip()
    if not text:
        raise vol.Invalid("a broker URL is needed, e.g. filesystem://, amqp://host//, "
                          "redis://host:6379/0")
    if ";" in text:
        raise vol.Invalid("one broker URL expected, got a ';'-separated list")
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


@dataclass(frozen=True)
class BrokerURL:
    """A validated broker URL and what it resolves to."""

    family: str
    url: str
    #: filesystem only: the broker directory.
    root: str | None = None

    @property
    def display(self) -> str:
        """The URL with any password masked, for messages and ``describe()``."""
        if self.family == "filesystem":
            return f"filesystem://{self.root}"
        from kombu.utils.url import maybe_sanitize_url

        return str(maybe_sanitize_url(self.url))


def resolve_url(url: str | None, statedir: os.PathLike[str] | str) -> BrokerURL:
    """The broker a URL designates; ``None`` or ``filesystem://`` mean the embedded
    broker in ``<statedir>/broker``."""
    if url is None:
        url = "filesystem://"
    scheme = url.partition("://")[0].lower()
    family = FAMILIES[scheme]
    if family == "filesystem":
        path = unquote(urlsplit(url).path)
        root = path if path not in ("", "/") else os.path.join(os.fspath(statedir), "broker")
        return BrokerURL(family, url, os.path.abspath(root))
    return BrokerURL(family, url)


SCHEMA: dict[str, Any] = {
    "url": check_url,
    "polling_interval": number(0.001),
    "heartbeat": number(0),
    "queue_expires": number(1),
    "janitor_interval": number(0),
}

DEFAULTS: dict[str, Any] = {
    "url": None,
    "polling_interval": None,
    "heartbeat": 30.0,
    "queue_expires": 300.0,
    "janitor_interval": 5.0,
}


@dataclass(frozen=True)
class KombuOptions:
    """Everything the connector needs from the configuration."""

    broker: BrokerURL
    identity: str
    main_collective: str
    #: See DEFAULT_POLLING_INTERVAL; ``None`` for push transports.
    polling_interval: float | None = None
    #: AMQP heartbeat in seconds (0 disables).
    heartbeat: float = 30.0
    #: AMQP ``x-expires`` of our queues: a backstop that removes a queue left unused
    #: (never consumed) this long, on top of exclusive/auto-delete.
    queue_expires: float = 300.0
    #: filesystem: seconds between sweeps for dead processes' queues (0: only on
    #: connect).
    janitor_interval: float = 5.0
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    publish_timeout: float = 2.0


def load_options(name: str, config: Config) -> KombuOptions:
    """Read and validate ``plugin.<name>.*`` (``name`` is the entry-point name,
    ``kombu`` unless installed under another)."""
    raw = config.plugin_config(name, SCHEMA, DEFAULTS)
    broker = resolve_url(raw["url"], config.statedir)
    polling = raw["polling_interval"]
    if polling is None:
        polling = DEFAULT_POLLING_INTERVAL[broker.family]
    return KombuOptions(
        broker=broker,
        identity=config.identity,
        main_collective=config.main_collective,
        polling_interval=polling,
        heartbeat=raw["heartbeat"],
        queue_expires=raw["queue_expires"],
        janitor_interval=raw["janitor_interval"],
        connect_timeout=config.connection_timeout or DEFAULT_CONNECT_TIMEOUT,
        publish_timeout=config.publish_timeout or 2.0,
    )
