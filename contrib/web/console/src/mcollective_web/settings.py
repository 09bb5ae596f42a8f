"""The ``plugin.web.*`` keys of the client configuration, and the command-line options
that override them.

Every limit a user can reach has a key here, so that an operator can tighten it, and a
default that keeps a console on one machine safe: it listens on the loopback address
only, refuses to listen elsewhere without TLS, and bounds request bodies, request
rates, concurrent requests, replies kept per request and the history kept.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcollective.config import boolean, integer, number, one_of, path
from mcollective.errors import ConfigError

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "web"
DEFAULT_PORT = 8080


def listen_address(value: Any) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (on 127.0.0.1)."""
    text_ = str(value).strip()
    if text_.isdigit():
        host, port = "127.0.0.1", text_
    elif text_.startswith("["):
        host, sep, port = text_[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [ADDRESS]:PORT, got {text_!r}")
    else:
        host, sep, port = text_.rpartition(":")
        if not sep:
            host, port = text_, str(DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port must be 1 to 65535, got {port!r}")
    if not host:
        raise ValueError(f"no address in {text_!r}; use 127.0.0.1:{port} (or 0.0.0.0:"
                         f"{port} to listen everywhere)")
    return host, int(port)


def rate(value: Any) -> str:
    """A rate such as ``10/minute`` or ``100 per hour`` (the ``limits`` notation)."""
    from limits import parse_many

    text_ = str(value).strip()
    try:
        parse_many(text_)
    except ValueError:
        raise ValueError(f"expected a rate such as '10/minute' or '5/second', got "
                         f"{text_!r}") from None
    return text_


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SCHEMA: dict[str, Callable[[Any], Any]] = {
    "listen": listen_address,
    "users": path,
    "state": path,
    "tls_cert": path,
    "tls_key": path,
    "insecure_http": boolean,
    "secure_cookies": one_of("auto", "always", "never"),
    "session_timeout": number(60),
    "max_body": integer(1024),
    "login_rate": rate,
    "api_rate": rate,
    "request_rate": rate,
    "max_running": integer(1),
    "max_running_per_user": integer(1),
    "max_replies": integer(10),
    "history_limit": integer(10),
    "max_timeout": number(0.1),
    "max_discovery_timeout": number(0.1),
    "node_timeout": number(0.1),
    "server_names": str,
}

DEFAULTS: dict[str, Any] = {
    "listen": ("127.0.0.1", DEFAULT_PORT),
    "insecure_http": False,
    "secure_cookies": "auto",
    "session_timeout": 8 * 3600.0,
    "max_body": 64 * 1024,
    "login_rate": "10/minute",
    "api_rate": "600/minute",
    "request_rate": "60/minute",
    "max_running": 8,
    "max_running_per_user": 4,
    "max_replies": 100_000,
    "history_limit": 5000,
    "max_timeout": 600.0,
    "max_discovery_timeout": 60.0,
    "node_timeout": 5.0,
    "server_names": "",
}


@dataclass(frozen=True)
class WebSettings:
    """What ``mco web`` runs with (see docs/web.md for each key)."""

    host: str
    port: int
    users_file: Path
    state_dir: Path
    tls_cert: Path | None
    tls_key: Path | None
    insecure_http: bool
    secure_cookies: str
    session_timeout: float
    max_body: int
    login_rate: str
    api_rate: str
    request_rate: str
    max_running: int
    max_running_per_user: int
    max_replies: int
    history_limit: int
    max_timeout: float
    max_discovery_timeout: float
    node_timeout: float
    server_names: tuple[str, ...]

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def cookies_secure(self) -> bool:
        """``Secure`` cookies: always over TLS (``auto``), or as configured."""
        if self.secure_cookies == "auto":
            return self.tls
        return self.secure_cookies == "always"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> WebSettings:
        """Validate ``plugin.web.*`` (a bad value is a ConfigError naming file, line and
        key; an unknown key is ignored with a warning); ``overrides`` are command-line
        values (``None``: unset)."""
        values = config.plugin_config(PLUGIN, SCHEMA, DEFAULTS)
        web_dir = config.statedir / "web"
        settings = cls(
            host=values["listen"][0], port=values["listen"][1],
            users_file=_path(config, values.get("users"), None) or web_dir / "users.yaml",
            state_dir=_path(config, values.get("state"), None) or web_dir,
            tls_cert=_path(config, values.get("tls_cert"), None),
            tls_key=_path(config, values.get("tls_key"), None),
            insecure_http=values["insecure_http"],
            secure_cookies=values["secure_cookies"],
            session_timeout=values["session_timeout"], max_body=values["max_body"],
            login_rate=values["login_rate"], api_rate=values["api_rate"],
            request_rate=values["request_rate"], max_running=values["max_running"],
            max_running_per_user=values["max_running_per_user"],
            max_replies=values["max_replies"], history_limit=values["history_limit"],
            max_timeout=values["max_timeout"],
            max_discovery_timeout=values["max_discovery_timeout"],
            node_timeout=values["node_timeout"],
            server_names=tuple(n.strip() for n in values["server_names"].split(",")
                               if n.strip()),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if "listen" in given:
            host, port = listen_address(given.pop("listen"))
            given.update(host=host, port=port)
        for key in ("users_file", "state_dir", "tls_cert", "tls_key"):
            if key in given:
                given[key] = Path(given[key]).expanduser().resolve()
        settings = replace(settings, **given)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that would expose the console carelessly."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("TLS needs both plugin.web.tls_cert and plugin.web.tls_key "
                              "(--tls-cert and --tls-key)")
        for what, file in (("certificate", self.tls_cert), ("key", self.tls_key)):
            if file is not None and not file.is_file():
                raise ConfigError(f"TLS {what} {file} does not exist")
        if not is_loopback(self.host) and not self.tls and not self.insecure_http:
            raise ConfigError(
                f"refusing to listen on {self.host} without TLS: passwords and session "
                "cookies would cross the network in clear text. Give --tls-cert and "
                "--tls-key (plugin.web.tls_cert, plugin.web.tls_key), put a TLS proxy in "
                "front and listen on 127.0.0.1, or accept the risk with --insecure-http")


def _path(config: Config, value: str | None, default: Path | None) -> Path | None:
    if not value:
        return default
    return config.resolve_path(value)
