"""The classic MCollective configuration format, validated.

``key = value`` lines, ``#`` comments, ``plugin.<name>.<key>`` namespaces and
``plugin.d/<name>.cfg`` fragments, read from ``server.cfg`` / ``client.cfg`` /
``~/.mcollective`` (or ``-c FILE``). Every value is validated with voluptuous; an unknown
core key or a bad value is a :class:`ConfigError` naming the file, the line and the key, as
MCollective made unknown keys fatal. Two things MCollective tolerated are tolerated here
too, with a warning: a line without ``=`` (often a YAML ``---`` header left in a file
that was templated from YAML) and an unknown key under a plugin's namespace (a setting
for another version of the plugin must not stop the plugin from loading). With no file
at all the defaults give a working single-machine collective: the embedded filesystem
transport under a per-user state directory and a generated pre-shared key.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import voluptuous as vol

from mcollective.errors import ConfigError

log = logging.getLogger(__name__)

Role = Literal["client", "server"]

IDENTITY_RE = re.compile(r"^[\w.\-]+$")
COLLECTIVE_RE = re.compile(r"^[A-Za-z0-9_\-]+$")

#: Seconds a client keeps trying to reach the middleware when ``connection_timeout`` is
#: not set (a node keeps trying for ever).
CLIENT_CONNECTION_TIMEOUT = 10.0

SERVER_CONFIG_PATHS = ("/etc/puppetlabs/mcollective/server.cfg", "/etc/mcollective/server.cfg")
CLIENT_CONFIG_PATHS = (
    "~/.mcollective",
    "/etc/puppetlabs/mcollective/client.cfg",
    "/etc/mcollective/client.cfg",
)

# --- value validators (all take the raw string) -------------------------------------

_TRUE = {"1", "yes", "true", "y", "t", "on"}
_FALSE = {"0", "no", "false", "n", "f", "off"}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise vol.Invalid(f"expected a boolean (yes/no, true/false, 1/0), got {value!r}")


def integer(minimum: int | None = None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise vol.Invalid(f"expected an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise vol.Invalid(f"must be at least {minimum}, got {number}")
        return number

    return check


def number(minimum: float | None = None) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        try:
            num = float(str(value).strip())
        except ValueError:
            raise vol.Invalid(f"expected a number, got {value!r}") from None
        # float() reads "nan" and "inf"; neither is a usable timeout, window or skew.
        if not math.isfinite(num):
            raise vol.Invalid(f"expected a finite number, got {value!r}")
        if minimum is not None and num < minimum:
            raise vol.Invalid(f"must be at least {minimum}, got {num}")
        return num

    return check


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``none``/empty means unset."""

    def inner(value: Any) -> Any:
        if value is None or str(value).strip().lower() in ("", "none", "nil"):
            return None
        return check(value)

    return inner


def one_of(*choices: str, aliases: Mapping[str, str] | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).strip().lower()
        text = (aliases or {}).get(text, text)
        if text not in choices:
            raise vol.Invalid(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return check


def comma_list(item: Callable[[str], str] | None = None) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            parts = [str(v).strip() for v in value]
        else:
            parts = [p.strip() for p in str(value).split(",")]
        parts = [p for p in parts if p]
        return [item(p) for p in parts] if item else parts

    return check


def matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = str(value).strip()
        if not pattern.match(value):
            raise vol.Invalid(f"{what} {value!r} must match {pattern.pattern}")
        return value

    return check


def plugin_name(value: Any) -> str:
    return str(value).strip().lower()


def text(value: Any) -> str:
    return str(value).strip()


def absolute_paths(value: Any) -> list[str]:
    paths = [p for p in str(value).split(os.pathsep) if p]
    for p in paths:
        if not os.path.isabs(os.path.expanduser(p)):
            raise vol.Invalid(f"libdir entries must be absolute paths, got {p!r}")
    return [os.path.expanduser(p) for p in paths]


def path(value: Any) -> str:
    return os.path.expanduser(str(value).strip())


# --- secrets ------------------------------------------------------------------------------

#: Setting names that are never disclosed (``rpcutil get_config_item``), whichever plugin
#: owns them: a name with one of these words as a dotted or underscored part.
SECRET_NAME_RE = re.compile(
    r"(^|[._])(psk|password|passwd|secret|token|key|seed|credentials?)([._]|$)", re.I)

#: ``scheme://userinfo@`` in a value: the user information of a URL (``user:password``,
#: or a token alone), wherever it appears in a setting (lists of URLs included).
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^/@\s,;]+)@")


def secret(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Mark a plugin setting's validator as holding a secret: use it in the schema given
    to :meth:`Config.plugin_config` (``{"password": secret(str)}``). A secret setting is
    never disclosed by ``rpcutil get_config_item``, and a daemon refuses to read one from
    a file that others can read (docs/configuration.md, "Secrets")."""

    def checked(value: Any) -> Any:
        return check(value)

    checked.mco_secret = True  # type: ignore[attr-defined]
    checked.__doc__ = check.__doc__
    return checked


def is_secret_check(check: Any) -> bool:
    return bool(getattr(check, "mco_secret", False))


def mask_credentials(value: Any) -> Any:
    """``value`` with the credentials of every URL in it masked (``amqp://user:****@h``;
    a token alone as ``****@``); lists are masked item by item."""
    if isinstance(value, str):
        def repl(match: re.Match[str]) -> str:
            user, colon, _ = match.group(2).partition(":")
            return f"{match.group(1)}{user}:****@" if colon else f"{match.group(1)}****@"

        return _URL_USERINFO.sub(repl, value)
    if isinstance(value, list | tuple):
        return [mask_credentials(item) for item in value]
    return value


def has_credentials(value: str) -> bool:
    """Whether ``value`` carries URL credentials (a password or a token)."""
    return any(m.group(2) for m in _URL_USERINFO.finditer(value))


class Key(NamedTuple):
    """One core configuration key: how to validate it, its default, and whether a later
    line adds to earlier ones instead of replacing them."""

    check: Callable[[Any], Any]
    default: Any = None
    repeatable: bool = False
    deprecated: str | None = None


def _default_identity() -> str:
    name = socket.gethostname() or "localhost"
    return name if IDENTITY_RE.match(name) else re.sub(r"[^\w.\-]", "_", name)


#: Where a root daemon (and root's ``mco``) keeps its state when nothing else says.
SYSTEM_STATEDIR = "/var/lib/mcollective"


def default_statedir(environ: Mapping[str, str] | None = None) -> Path:
    """The state directory when ``statedir`` is not configured.

    In order: ``$MCOLLECTIVE_STATEDIR``; ``$STATE_DIRECTORY`` (set by systemd's
    ``StateDirectory=``, its first entry); ``$XDG_STATE_HOME/mcollective`` when that is
    set; ``/var/lib/mcollective`` for root; else ``~/.local/state/mcollective``. So the
    service, root's ``mco`` and a packaged install agree on one place (the embedded
    broker and the generated key live there), while other users keep XDG defaults.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("MCOLLECTIVE_STATEDIR")
    if explicit:
        return Path(explicit).expanduser()
    systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = env.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg) / "mcollective"
    if os.geteuid() == 0:
        return Path(SYSTEM_STATEDIR)
    return Path(os.path.expanduser("~")) / ".local" / "state" / "mcollective"


#: Every core key (``reference/mcollective.md`` §7.2 plus the few this project adds).
KEYS: dict[str, Key] = {
    "identity": Key(matching(IDENTITY_RE, "identity"), _default_identity),
    "collectives": Key(comma_list(matching(COLLECTIVE_RE, "collective")), ["mcollective"]),
    "main_collective": Key(optional(matching(COLLECTIVE_RE, "collective"))),
    "connector": Key(plugin_name, "kombu"),
    "securityprovider": Key(plugin_name, "psk"),
    "factsource": Key(comma_list(plugin_name), ["system", "yaml"]),
    "fact_cache_time": Key(integer(0), 300),
    "classesfile": Key(path, "/var/lib/puppet/state/classes.txt"),
    "registration": Key(plugin_name, "agentlist"),
    "registerinterval": Key(integer(0), 0),
    "registration_splay": Key(boolean, False),
    "registration_collective": Key(optional(matching(COLLECTIVE_RE, "collective"))),
    "rpcaudit": Key(boolean, False),
    "rpcauditprovider": Key(comma_list(plugin_name), []),
    "rpcauthorization": Key(boolean, False),
    "rpcauthprovider": Key(
        optional(lambda v: {"action_policy": "actionpolicy"}.get(plugin_name(v), plugin_name(v)))
    ),
    "loglevel": Key(one_of("debug", "info", "warn", "error", "fatal",
                           aliases={"warning": "warn", "critical": "fatal"}), "info"),
    "logger_type": Key(one_of("file", "console", "syslog"), None),
    "logfile": Key(optional(path)),
    "keeplogs": Key(integer(0), 5),
    "max_log_size": Key(integer(1024), 2097152),
    "logfacility": Key(text, "user"),
    "libdir": Key(absolute_paths, [], repeatable=True),
    "daemonize": Key(boolean, False),
    "pidfile": Key(optional(path)),
    "direct_addressing": Key(boolean, True),
    "direct_addressing_threshold": Key(integer(0), 10),
    "ttl": Key(integer(1), 60),
    "color": Key(boolean, True),
    # What `mco rpc -j` prints: Choria's object or MCollective's bare array.
    "json_format": Key(one_of("choria", "mcollective"), "choria"),
    "rpclimitmethod": Key(one_of("first", "random"), "first"),
    "discovery_timeout": Key(optional(number(0))),
    "discovery_window": Key(number(0.01), 0.3),
    # Seconds a cached broadcast discovery stays usable by mco rpc/ping (0: never).
    "discovery_cache_ttl": Key(number(0), 300),
    "default_discovery_method": Key(plugin_name, "mc"),
    "default_discovery_options": Key(lambda v: [text(v)], [], repeatable=True),
    "publish_timeout": Key(number(0), 2),
    # Unset: a node never gives up on its broker, a client gives up after 10 s; 0: never.
    "connection_timeout": Key(optional(number(0)), None),
    "threaded": Key(boolean, False),
    "ssl_cipher": Key(text, "aes-256-cbc"),
    "soft_shutdown": Key(boolean, True),
    "soft_shutdown_timeout": Key(optional(number(0)), 10.0),
    "activate_agents": Key(boolean, True),
    "default_batch_size": Key(integer(0), 0),
    "default_batch_sleep_time": Key(number(0), 1.0),
    "statedir": Key(optional(path)),
    "worker_threads": Key(integer(1), 20),
    # Request hardening (docs/security.md): TTL window slack, replay cache, size cap.
    "clock_skew": Key(number(0), 30.0),
    "replay_cache_size": Key(integer(0), 100000),
    "replay_cache_per_caller": Key(integer(0), 10000),
    "max_message_size": Key(integer(1024), 1048576),
    # Longest a request may stay valid (seconds): the client refuses to send above it,
    # nodes drop such requests; bounds how long a request id must be remembered.
    "max_ttl": Key(integer(1), 3600),
    # Actions of one agent still running past their timeout (pure Python cannot be
    # killed) before the node refuses that agent's new requests.
    "max_stuck_actions": Key(integer(1), 10),
    # Seconds one request's filter may spend in data-plugin queries (-S fstat(...)).
    "max_filter_seconds": Key(number(0.01), 5.0),
    # Kept so that old files load; they mean nothing here.
    "topicprefix": Key(text, deprecated="topic names are chosen by the connector"),
    "topicsep": Key(text, deprecated="topic names are chosen by the connector"),
    "queueprefix": Key(text, deprecated="queue names are chosen by the connector"),
    "rpchelptemplate": Key(text, deprecated="help is rendered from the DDL"),
    "helptemplatedir": Key(text, deprecated="help is rendered from the DDL"),
}


class Setting(NamedTuple):
    """A raw value and where it came from, so errors can point at it."""

    value: str
    file: str
    line: int | None


def parse_lines(lines: Iterable[str], file: str) -> list[tuple[str, Setting]]:
    """Parse ``key = value`` lines; comments and blanks skipped.

    A line without ``=`` is skipped with a warning, as MCollective's parser skipped any
    line its ``key = value`` pattern did not match; a ``---`` YAML header left at the top
    of ``server.cfg`` is the usual case. A line with ``=`` and a malformed key is still an
    error, because the setting it meant to make would be lost."""
    out = []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            log.warning("%s:%s: ignoring line without '=' (not 'key = value'): %.60r",
                        file, lineno, line)
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not key or not re.match(r"^[\w.\-]+$", key):
            raise ConfigError(f"invalid key name {key!r}", file=file, line=lineno)
        out.append((key, Setting(value.strip(), file, lineno)))
    return out


def _read(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 text ({exc.reason})", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None


def find_config(role: Role, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The configuration file to use: ``explicit`` if given (it must exist), else the
    first readable file of the role's search order, else ``None`` (built-in defaults)."""
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError("configuration file not found", file=str(p))
        return p
    candidates = SERVER_CONFIG_PATHS if role == "server" else CLIENT_CONFIG_PATHS
    for candidate in candidates:
        p = Path(candidate).expanduser()
        if p.is_file() and os.access(p, os.R_OK):
            return p
    return None


class Config:
    """Validated configuration. Core keys are attributes (``config.identity``); plugin
    keys are read with :meth:`plugin_config`, which validates them against the plugin's
    own schema."""

    identity: str
    collectives: list[str]
    main_collective: str
    connector: str
    securityprovider: str
    factsource: list[str]
    fact_cache_time: int
    classesfile: str
    registration: str
    registerinterval: int
    registration_splay: bool
    registration_collective: str
    rpcaudit: bool
    rpcauditprovider: list[str]
    rpcauthorization: bool
    rpcauthprovider: str | None
    loglevel: str
    logger_type: str | None
    logfile: str | None
    keeplogs: int
    max_log_size: int
    logfacility: str
    libdir: list[str]
    daemonize: bool
    pidfile: str | None
    direct_addressing: bool
    direct_addressing_threshold: int
    ttl: int
    color: bool
    json_format: str
    rpclimitmethod: str
    discovery_timeout: float | None
    discovery_window: float
    discovery_cache_ttl: float
    default_discovery_method: str
    default_discovery_options: list[str]
    publish_timeout: float
    connection_timeout: float | None
    threaded: bool
    soft_shutdown: bool
    soft_shutdown_timeout: float | None
    activate_agents: bool
    default_batch_size: int
    default_batch_sleep_time: float
    worker_threads: int
    clock_skew: float
    replay_cache_size: int
    replay_cache_per_caller: int
    max_message_size: int
    max_ttl: int
    max_stuck_actions: int
    max_filter_seconds: float

    def __init__(
        self,
        settings: Iterable[tuple[str, Setting]] = (),
        *,
        path: Path | None = None,
        role: Role = "client",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.role = role
        self.configdir = path.parent if path else None
        self._core: dict[str, Setting] = {}
        self._plugin: dict[str, Setting] = {}
        self._values: dict[str, Any] = {}
        #: Full keys that plugins marked secret (see :func:`secret`).
        self._secrets: set[str] = set()
        self._warned_files: set[str] = set()
        self._warned: set[tuple[str, int | None, str]] = set()
        repeated: dict[str, list[Setting]] = {}
        for key, setting in settings:
            if key.startswith("plugin."):
                name = key[len("plugin."):]
                if not name:
                    raise ConfigError("empty plugin key", file=setting.file, line=setting.line,
                                      key=key)
                self._plugin[name] = setting
                continue
            spec = KEYS.get(key)
            if spec is None:
                raise ConfigError(_unknown_key_message(key), file=setting.file,
                                  line=setting.line, key=key)
            if spec.deprecated:
                log.warning("%s:%s: key '%s' is ignored: %s", setting.file, setting.line, key,
                            spec.deprecated)
            if spec.repeatable:
                repeated.setdefault(key, []).append(setting)
            self._core[key] = setting
        env = os.environ if environ is None else environ
        #: The environment this configuration was read with; plugins read their own
        #: variables (MCOLLECTIVE_PSK) from here, so tests can isolate them.
        self.environ: Mapping[str, str] = env
        for key in KEYS:
            env_value = env.get(f"MCOLLECTIVE_{key.upper()}")
            if env_value is not None:
                self._core[key] = Setting(env_value, f"environment MCOLLECTIVE_{key.upper()}",
                                          None)
                repeated.pop(key, None)
        for key, spec in KEYS.items():
            if spec.repeatable and key in repeated:
                merged: list[Any] = []
                for s in repeated[key]:
                    merged.extend(self._check(key, spec, s))
                self._values[key] = merged
            elif key in self._core:
                self._values[key] = self._check(key, spec, self._core[key])
            else:
                default = spec.default() if callable(spec.default) else spec.default
                self._values[key] = list(default) if isinstance(default, list) else default
        self._finish()
        for key, setting in [*self._core.items(),
                             *((f"plugin.{k}", v) for k, v in self._plugin.items())]:
            if has_credentials(setting.value):
                self._check_exposure(key, setting)

    def _check_exposure(self, key: str, setting: Setting) -> None:
        """A secret read from a file others can access: refused for a daemon (as a key
        file with that mode is), a warning for a client."""
        if os.name == "nt":
            return
        try:
            mode = os.stat(setting.file).st_mode
        except (OSError, ValueError):
            return  # not a file: the environment, a string in tests
        perms = stat.S_IMODE(mode)
        if not perms & (stat.S_IROTH | stat.S_IWOTH):
            return
        if self.role == "server":
            raise ConfigError(
                f"holds a secret, but the file has mode {perms:04o}: it must not be "
                f"accessible by others; run 'chmod o-rwx {setting.file}'",
                file=setting.file, line=setting.line, key=key)
        if setting.file not in self._warned_files:
            self._warned_files.add(setting.file)
            log.warning("%s:%s: '%s' holds a secret, but the file is readable by every user "
                        "(mode %04o); run 'chmod o-rwx %s'", setting.file, setting.line, key,
                        perms, setting.file)

    def is_secret(self, key: str) -> bool:
        """Whether ``key`` must never be disclosed: its name says so (``password``,
        ``token``, ``psk``...) or the plugin owning it marked it with :func:`secret`."""
        name = key if key.startswith("plugin.") or key in KEYS else f"plugin.{key}"
        return bool(SECRET_NAME_RE.search(key)) or key in self._secrets \
            or name in self._secrets

    @staticmethod
    def _check(key: str, spec: Key, setting: Setting) -> Any:
        try:
            return spec.check(setting.value)
        except vol.Invalid as exc:
            raise ConfigError(str(exc.msg), file=setting.file, line=setting.line,
                              key=key) from None

    def _error(self, key: str, message: str) -> ConfigError:
        s = self._core.get(key)
        return ConfigError(message, file=s.file if s else (str(self.path) if self.path else None),
                           line=s.line if s else None, key=key)

    def _finish(self) -> None:
        v = self._values
        if not v["collectives"]:
            raise self._error("collectives", "at least one collective is needed")
        if v["main_collective"] is None:
            # Deliberate fix: the original kept 'mcollective' even when `collectives`
            # did not list it; we take the first collective listed.
            v["main_collective"] = v["collectives"][0]
        if v["main_collective"] not in v["collectives"]:
            raise self._error("main_collective",
                              f"'{v['main_collective']}' is not one of the collectives "
                              f"({', '.join(v['collectives'])})")
        if v["registration_collective"] is None:
            v["registration_collective"] = v["main_collective"]
        if v["rpcauthorization"] and not v["rpcauthprovider"]:
            raise self._error("rpcauthprovider", "rpcauthorization is on but no provider is set")
        if v["rpcaudit"] and not v["rpcauditprovider"]:
            raise self._error("rpcauditprovider", "rpcaudit is on but no provider is set")
        if not v["rpcaudit"]:
            v["rpcauditprovider"] = []
        if v["logger_type"] is None:
            v["logger_type"] = "file" if v["logfile"] else "console"
        for key, value in v.items():
            if key != "statedir":
                setattr(self, key, value)

    # --- access -------------------------------------------------------------------

    def get(self, key: str) -> Any:
        return self._values[key]

    def items(self) -> dict[str, Any]:
        """Every core key with its effective value (for ``rpcutil get_config_item``)."""
        return dict(self._values)

    def source(self, key: str) -> Setting | None:
        return self._core.get(key) or self._plugin.get(key.removeprefix("plugin."))

    @property
    def statedir(self) -> Path:
        configured = self._values.get("statedir")
        return Path(configured) if configured else default_statedir()

    def connect_limit(self) -> float:
        """Seconds to keep trying to reach the middleware before giving up: the
        ``connection_timeout`` key; unset, a node never gives up (``inf``) and a client
        gives up after :data:`CLIENT_CONNECTION_TIMEOUT`; ``0`` means never."""
        value = self._values.get("connection_timeout")
        if value is None:
            return math.inf if self.role == "server" else CLIENT_CONNECTION_TIMEOUT
        return math.inf if value == 0 else float(value)

    def resolve_path(self, value: str) -> Path:
        """A path from the configuration: relative ones are taken from the config file's
        directory, so a self-contained config directory can be moved around."""
        p = Path(os.path.expanduser(value))
        if not p.is_absolute() and self.configdir is not None:
            p = self.configdir / p
        return p

    def plugin_raw(self, name: str) -> dict[str, Setting]:
        """Raw ``plugin.<name>`` (key ``""``) and ``plugin.<name>.<key>`` settings."""
        out = {}
        for key, setting in self._plugin.items():
            if key == name:
                out[""] = setting
            elif key.startswith(name + "."):
                out[key[len(name) + 1:]] = setting
        return out

    def plugin_config(
        self, name: str, schema: Mapping[str, Callable[[Any], Any]] | None = None,
        defaults: Mapping[str, Any] | None = None, *, allow_unknown: bool = False,
    ) -> dict[str, Any]:
        """The validated settings of plugin ``name``.

        ``schema`` maps sub-key (``""`` for ``plugin.<name>`` itself) to a validator. A value
        the validator rejects is a ConfigError with file, line and full key; an unknown
        sub-key is ignored with a warning naming them (and the closest known key).
        """
        raw = self.plugin_raw(name)
        out: dict[str, Any] = dict(defaults or {})
        for sub, setting in raw.items():
            full = f"plugin.{name}" + (f".{sub}" if sub else "")
            if schema is None:
                out[sub] = setting.value
                continue
            check = schema.get(sub)
            if is_secret_check(check):
                self._secrets.add(full)
                if setting.value:
                    self._check_exposure(full, setting)
            if check is None:
                if allow_unknown:
                    out[sub] = setting.value
                    continue
                self._warn_unknown_plugin_key(name, sub, full, setting, schema)
                continue
            try:
                out[sub] = check(setting.value)
            except vol.Invalid as exc:
                raise ConfigError(str(exc.msg), file=setting.file, line=setting.line,
                                  key=full) from None
            except (ValueError, TypeError) as exc:
                raise ConfigError(str(exc), file=setting.file, line=setting.line,
                                  key=full) from None
        return out

    def _warn_unknown_plugin_key(self, name: str, sub: str, full: str, setting: Setting,
                                 schema: Mapping[str, Any]) -> None:
        """An unknown ``plugin.<name>.<key>`` is ignored with a warning (once per line):
        it is usually meant for another version of the plugin, and MCollective let each
        plugin read what it knows; refusing would stop the plugin from loading."""
        mark = (setting.file, setting.line, full)
        if mark in self._warned:
            return
        self._warned.add(mark)
        import difflib

        close = difflib.get_close_matches(sub, [k for k in schema if k], n=1)
        if close:
            hint = f"did you mean 'plugin.{name}.{close[0]}'?"
        else:
            hint = "known: " + (", ".join(f"plugin.{name}.{k}" if k else f"plugin.{name}"
                                          for k in sorted(schema)) or "none")
        where = f"{setting.file}:{setting.line}" if setting.line else setting.file
        log.warning("%s: ignoring unknown key '%s' for plugin '%s' (%s)", where, full, name,
                    hint)

    def agent_enabled(self, agent: str) -> bool:
        """``activate_agents`` with the per-agent ``plugin.<agent>.activate_agent``."""
        setting = self._plugin.get(f"{agent}.activate_agent")
        if setting is None:
            return bool(self._values["activate_agents"])
        try:
            return boolean(setting.value)
        except vol.Invalid as exc:
            raise ConfigError(str(exc.msg), file=setting.file, line=setting.line,
                              key=f"plugin.{agent}.activate_agent") from None

    def __repr__(self) -> str:
        return f"<Config {self.path or '(defaults)'} identity={self.identity!r}>"


def _unknown_key_message(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(KEYS), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown configuration key{hint}"


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    role: Role = "client",
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load the configuration for ``role``: the file (explicit or found by search
    order), its ``plugin.d/*.cfg`` fragments, ``MCOLLECTIVE_<KEY>`` environment
    overrides, and ``overrides`` given by the caller (command-line flags)."""
    found = find_config(role, path)
    settings: list[tuple[str, Setting]] = []
    if found is not None:
        settings.extend(parse_lines(_read(found), str(found)))
        plugin_d = found.parent / "plugin.d"
        if plugin_d.is_dir():
            for fragment in sorted(plugin_d.glob("*.cfg")):
                plugin = fragment.stem
                for key, setting in parse_lines(_read(fragment), str(fragment)):
                    settings.append((f"plugin.{plugin}.{key}", setting))
    for key, value in (overrides or {}).items():
        settings.append((key, Setting(str(value), "command line", None)))
    return Config(settings, path=found, role=role, environ=environ)


def config_from_text(text_: str, *, role: Role = "client", name: str = "<string>",
                     environ: Mapping[str, str] | None = None) -> Config:
    """Build a configuration from text (tests, embedded uses)."""
    return Config(parse_lines(text_.splitlines(), name), role=role,
                  environ={} if environ is None else environ)
