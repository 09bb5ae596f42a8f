"""The ``plugin.psk`` configuration keys, validated through core's plugin schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcollective.config import one_of
from mcollective_security_psk.caller import CALLER_TYPES

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "psk"
DEFAULT_CALLERTYPE = "user"


def _secret(value: Any) -> str:
    text = str(value).strip()
    if not text:
        # An empty secret would make every signature forgeable by anyone.
        raise ValueError("the pre-shared key is empty")
    return text


def _keyfile(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("expected the path of a key file")
    return text


SCHEMA = {
    "": _secret,
    "callertype": one_of(*CALLER_TYPES),
    "keyfile": _keyfile,
}


@dataclass(frozen=True)
class PskSettings:
    """What the configuration says; ``None`` means the key is not set there."""

    secret: str | None
    callertype: str
    keyfile: Path | None

    @classmethod
    def from_config(cls, config: Config) -> PskSettings:
        """Validate ``plugin.psk*``; a bad value raises ConfigError naming it."""
        values = config.plugin_config(PLUGIN, SCHEMA, {"callertype": DEFAULT_CALLERTYPE})
        keyfile = values.get("keyfile")
        return cls(
            secret=values.get(""),
            callertype=values["callertype"],
            keyfile=config.resolve_path(keyfile) if keyfile else None,
        )
