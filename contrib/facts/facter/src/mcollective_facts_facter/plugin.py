"""Entry point ``facter`` of group ``mcollective.facts``."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from mcollective import hookimpl
from mcollective.config import boolean, integer, number
from mcollective.facts_cache import CommandFactsSource

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "facter"
DEFAULT_COMMAND = "facter --json"


def command(value: Any) -> list[str]:
    """A command line, split as a POSIX shell would (no shell runs it)."""
    try:
        words = shlex.split(str(value))
    except ValueError as exc:
        raise ValueError(f"cannot split the command line: {exc}") from None
    if not words:
        raise ValueError("expected a command, e.g. 'facter --json'")
    return words


SCHEMA = {
    "command": command,
    "cache_time": integer(0),
    "timeout": number(1),
    "legacy": boolean,
}


def settings(config: Config) -> dict[str, Any]:
    return config.plugin_config(PLUGIN, SCHEMA, {
        "command": command(DEFAULT_COMMAND), "cache_time": config.fact_cache_time,
        "timeout": 60.0, "legacy": False,
    })


@hookimpl
def mco_facts_create(config: Config) -> CommandFactsSource:
    """Create the Facter source; Facter first runs when the daemon starts the source
    (in the background), never inside a request."""
    values = settings(config)
    argv = list(values["command"])
    if values["legacy"] and "--show-legacy" not in argv:
        argv.append("--show-legacy")
    return CommandFactsSource(PLUGIN, argv, cache_time=values["cache_time"],
                              timeout=values["timeout"])
