"""The ``plugin.x509.*`` configuration keys, validated through core's plugin schema.

Only the form of each value is checked here; finding and reading the files they name is
:mod:`.credentials`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcollective.config import comma_list, number, one_of
from mcollective_security_x509.pki import NAME_RE, NAME_SOURCES

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "x509"
DEFAULT_CLOCK_SKEW = 30.0
#: Patterns in an allow-list; a pattern longer than this is a mistake.
MAX_PATTERN = 255
MAX_PATTERNS = 1000


def _path(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("expected the path of a file or directory")
    return text


def _certname(value: Any) -> str:
    text = str(value).strip()
    if not NAME_RE.fullmatch(text):
        raise ValueError(f"certificate name {text!r} may only have letters, digits, '.', "
                         "'-', '_' and '@'")
    return text


def _pattern(value: str) -> str:
    if len(value) > MAX_PATTERN or not _pattern_chars(value):
        raise ValueError(f"{value[:80]!r} is not a certificate name pattern (letters, "
                         "digits, '.', '-', '_', '@' and the wildcards '*', '?', '[...]')")
    return value


def _pattern_chars(value: str) -> bool:
    return all(c.isalnum() or c in "._-@*?[]!" for c in value)


def _patterns(value: Any) -> list[str]:
    patterns = comma_list(_pattern)(value)
    if len(patterns) > MAX_PATTERNS:
        raise ValueError(f"more than {MAX_PATTERNS} patterns")
    return patterns


SCHEMA = {
    "ssldir": _path,
    "certname": _certname,
    "ca": _path,
    "certificate": _path,
    "private_key": _path,
    "crl": _path,
    "clients": _patterns,
    "nodes": _patterns,
    "delegators": _patterns,
    "name_from": one_of(*NAME_SOURCES),
    "clock_skew": number(0),
}

DEFAULTS: dict[str, Any] = {"nodes": ["*"], "name_from": "cn"}


@dataclass(frozen=True)
class X509Settings:
    """What the configuration says; ``None`` where a key is not set."""

    ssldir: str | None
    certname: str | None
    ca: str | None
    certificate: str | None
    private_key: str | None
    crl: str | None
    clients: tuple[str, ...] | None
    nodes: tuple[str, ...]
    delegators: tuple[str, ...]
    name_from: str
    clock_skew: float

    @classmethod
    def from_config(cls, config: Config) -> X509Settings:
        """Validate ``plugin.x509.*``; a bad value raises ConfigError naming the file,
        the line and the key (an unknown key is ignored with a warning)."""
        # The skew tolerated for certificate dates defaults to the one core tolerates
        # for request times (core key clock_skew), so one setting covers both.
        skew = getattr(config, "clock_skew", None)
        defaults = {**DEFAULTS, "clock_skew": DEFAULT_CLOCK_SKEW if skew is None
                    else float(skew)}
        values = config.plugin_config(PLUGIN, SCHEMA, defaults)
        clients = values.get("clients")
        return cls(
            ssldir=values.get("ssldir"),
            certname=values.get("certname"),
            ca=values.get("ca"),
            certificate=values.get("certificate"),
            private_key=values.get("private_key"),
            crl=values.get("crl"),
            clients=tuple(clients) if clients is not None else None,
            nodes=tuple(values["nodes"]),
            delegators=tuple(values.get("delegators") or ()),
            name_from=values["name_from"],
            clock_skew=values["clock_skew"],
        )
