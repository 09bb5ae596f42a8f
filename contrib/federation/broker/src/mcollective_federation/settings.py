"""The federation broker's configuration (YAML)::

    name: fed-ab                  # its name in seen_by traces and audit lines
    collectives: [far]            # requests addressed to these are forwarded
    clients: /etc/mcollective/federation-clients.cfg   # the clients' middleware
    nodes: /etc/mcollective/federation-nodes.cfg       # the nodes' middleware
    reply_collectives: [main]     # main collectives of those clients (default: the
                                  # collectives of the clients' configuration)
    audit: /var/log/mcollective/federation-audit.log   # JSON lines ("-": stderr)
    allow_callers: [user=alice]   # optional: only these callers are forwarded
    max_hops: 4                   # longest seen_by trace accepted

``clients`` and ``nodes`` are ordinary mcollective configuration files: connector and
its ``plugin.*`` keys (the broker account of this federation broker on that
middleware), security provider and keys, ``identity``, logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol

from mcollective.config import COLLECTIVE_RE, Config, load_config
from mcollective.errors import ConfigError

_NAME = r"^[A-Za-z0-9_.\-]+$"


def _collectives(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return vol.Schema([vol.Match(COLLECTIVE_RE.pattern, msg="not a collective name")])(value)


SCHEMA = vol.Schema({
    vol.Required("name"): vol.Match(_NAME, msg="letters, digits, '.', '_' and '-'"),
    vol.Required("collectives"): vol.All(_collectives, vol.Length(min=1)),
    vol.Required("clients"): str,
    vol.Required("nodes"): str,
    vol.Optional("reply_collectives"): _collectives,
    vol.Optional("audit", default="-"): str,
    vol.Optional("allow_callers", default=list): [str],
    vol.Optional("max_hops", default=4): vol.All(int, vol.Range(min=1, max=64)),
    vol.Optional("max_message_size"): vol.All(int, vol.Range(min=1024)),
})


@dataclass
class FederationSettings:
    name: str
    collectives: list[str]
    clients: Config
    nodes: Config
    reply_collectives: list[str]
    audit: str = "-"
    allow_callers: tuple[str, ...] = ()
    max_hops: int = 4
    max_message_size: int = 0
    source: str = "<federation>"


def load_settings(path: str | Path) -> FederationSettings:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                          line=mark.line + 1 if mark else None) from None
    try:
        raw = SCHEMA(data or {})
    except vol.MultipleInvalid as exc:
        error = exc.errors[0]
        key = ".".join(str(p) for p in error.path) or None
        raise ConfigError(error.msg, file=str(path), key=key) from None

    def side(key: str) -> Config:
        side_path = Path(raw[key])
        if not side_path.is_absolute():
            side_path = path.parent / side_path
        if not side_path.is_file():
            raise ConfigError(f"no such file: {side_path}", file=str(path), key=key)
        return load_config(side_path, role="server")

    clients, nodes = side("clients"), side("nodes")
    return FederationSettings(
        name=raw["name"], collectives=raw["collectives"], clients=clients, nodes=nodes,
        reply_collectives=raw.get("reply_collectives") or list(clients.collectives),
        audit=raw["audit"], allow_callers=tuple(raw["allow_callers"]),
        max_hops=raw["max_hops"],
        max_message_size=raw.get("max_message_size") or clients.max_message_size,
        source=str(path))
