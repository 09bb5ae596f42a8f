"""The ``plugin.jwt.*`` configuration keys, validated through core's plugin schema.

Only the form of each value is checked here; reading the files they name (and telling
the user what to do when that fails) is :mod:`.credentials`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcollective.config import boolean, comma_list, number

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "jwt"
DEFAULT_CLOCK_SKEW = 30.0


def _path(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("expected the path of a file")
    return text


def _issuer_keys(value: Any) -> list[str]:
    keys = comma_list()(value)
    if not keys:
        raise ValueError("expected one or more issuer public keys (64 hex characters or "
                         "the path of a .pub file), separated by commas")
    return keys


SCHEMA = {
    "issuer_public_key": _issuer_keys,
    "token": _path,
    "private_key": _path,
    "sign_replies": boolean,
    "clock_skew": number(0),
}

DEFAULTS: dict[str, Any] = {"sign_replies": True, "clock_skew": DEFAULT_CLOCK_SKEW}


@dataclass(frozen=True)
class JwtSettings:
    """What the configuration says; ``None`` where a key is not set."""

    issuer_public_keys: tuple[str, ...] | None
    token: str | None
    private_key: str | None
    sign_replies: bool
    clock_skew: float

    @classmethod
    def from_config(cls, config: Config) -> JwtSettings:
        """Validate ``plugin.jwt.*``; a bad value raises ConfigError naming the
        file, the line and the key; an unknown key is ignored with a warning."""
        # The skew tolerated for token times defaults to the one core tolerates for
        # request times (core key clock_skew), so one setting covers both.
        skew = getattr(config, "clock_skew", None)
        defaults = {**DEFAULTS, "clock_skew": DEFAULT_CLOCK_SKEW if skew is None
                    else float(skew)}
        values = config.plugin_config(PLUGIN, SCHEMA, defaults)
        issuers = values.get("issuer_public_key")
        return cls(
            issuer_public_keys=tuple(issuers) if issuers is not None else None,
            token=values.get("token"),
            private_key=values.get("private_key"),
            sign_replies=values["sign_replies"],
            clock_skew=values["clock_skew"],
        )
