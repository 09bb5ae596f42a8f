"""Entry point ``external`` of group ``mcollective.facts``.

Its settings live under ``plugin.external_facts``: ``plugin.external`` belongs to the
external agents of core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcollective import hookimpl
from mcollective.config import integer, number
from mcollective_facts_external.source import ExternalFactsSource

if TYPE_CHECKING:
    from pathlib import Path

    from mcollective.config import Config

PLUGIN = "external_facts"
#: Facter's own external fact directories for root (Puppet's AIO packages, then the
#: distribution packages).
DEFAULT_DIRECTORIES = ("/etc/puppetlabs/facter/facts.d", "/etc/facter/facts.d",
                       "/opt/puppetlabs/facter/facts.d")


def directories(value: Any) -> list[str]:
    dirs = [d.strip() for d in str(value).split(",") if d.strip()]
    if not dirs:
        raise ValueError("expected one or more directories, separated by commas")
    return dirs


SCHEMA = {
    "directory": directories,
    "cache_time": integer(0),
    "timeout": number(1),
    "max_files": integer(1),
}


def facts_directories(config: Config, values: dict[str, Any]) -> list[Path]:
    from pathlib import Path

    return [config.resolve_path(d) if not d.startswith("/") else Path(d)
            for d in values["directory"]]


@hookimpl
def mco_facts_create(config: Config) -> ExternalFactsSource:
    """Create the external facts source; nothing is read or run until the daemon
    starts it, and then only in the background."""
    values = config.plugin_config(PLUGIN, SCHEMA, {
        "directory": list(DEFAULT_DIRECTORIES), "cache_time": config.fact_cache_time,
        "timeout": 30.0, "max_files": 1000,
    })
    return ExternalFactsSource(facts_directories(config, values),
                               cache_time=values["cache_time"], timeout=values["timeout"],
                               max_files=values["max_files"])
