"""Entry point ``ohai`` of group ``mcollective.facts``."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from mcollective import hookimpl
from mcollective.config import integer, number
from mcollective.facts_cache import CommandFactsSource

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "ohai"
#: ``-l fatal``: Ohai logs plugin errors (a missing dmidecode) to standard error at
#: ERROR level on most machines; they say nothing about the facts it prints.
DEFAULT_COMMAND = "ohai -l fatal"


def command(value: Any) -> list[str]:
    """A command line, split as a POSIX shell would (no shell runs it)."""
    try:
        words = shlex.split(str(value))
    except ValueError as exc:
        raise ValueError(f"cannot split the command line: {exc}") from None
    if not words:
        raise ValueError("expected a command, e.g. 'ohai'")
    return words


SCHEMA = {
    "command": command,
    "cache_time": integer(0),
    "timeout": number(1),
}


def settings(config: Config) -> dict[str, Any]:
    return config.plugin_config(PLUGIN, SCHEMA, {
        "command": command(DEFAULT_COMMAND), "cache_time": config.fact_cache_time,
        "timeout": 120.0,
    })


@hookimpl
def mco_facts_create(config: Config) -> CommandFactsSource:
    """Create the Ohai source; Ohai first runs when the daemon starts the source (in
    the background), never inside a request."""
    values = settings(config)
    return CommandFactsSource(PLUGIN, values["command"], cache_time=values["cache_time"],
                              timeout=values["timeout"])
