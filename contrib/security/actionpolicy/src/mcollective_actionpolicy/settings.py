"""The ``plugin.actionpolicy.*`` configuration keys, validated through core's schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcollective.config import boolean, path

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "actionpolicy"


def _policy_name(value: Any) -> str:
    text = str(value).strip()
    if not re.match(r"^[\w.\-]+$", text) or text.startswith("."):
        raise ValueError(f"expected a policy name such as 'default', got {value!r}")
    return text


SCHEMA = {
    "allow_unconfigured": boolean,
    "enable_default": boolean,
    "default_name": _policy_name,
    "policy_dir": path,
}
DEFAULTS: dict[str, Any] = {
    "allow_unconfigured": False,
    "enable_default": False,
    "default_name": "default",
}


@dataclass(frozen=True)
class ActionPolicySettings:
    """What the configuration says, with the policy directory resolved."""

    policy_dir: Path
    allow_unconfigured: bool
    enable_default: bool
    default_name: str

    @classmethod
    def from_config(cls, config: Config) -> ActionPolicySettings:
        """Validate ``plugin.actionpolicy.*``; a bad value raises ConfigError naming it,
        an unknown key is ignored with a warning. The policy directory defaults to
        ``policies`` beside the config file (``<statedir>/policies`` when there is no
        file); relative paths are taken from the config file's directory."""
        values = config.plugin_config(PLUGIN, SCHEMA, DEFAULTS)
        raw = values.get("policy_dir")
        if raw:
            policy_dir = config.resolve_path(raw)
        elif config.configdir is not None:
            policy_dir = config.configdir / "policies"
        else:
            policy_dir = config.statedir / "policies"
        return cls(policy_dir, values["allow_unconfigured"], values["enable_default"],
                   values["default_name"])
