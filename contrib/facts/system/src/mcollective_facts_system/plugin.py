"""Entry point ``system`` of group ``mcollective.facts``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective import hookimpl
from mcollective_facts_system.source import SystemFactsSource

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "system"


@hookimpl
def mco_facts_create(config: Config) -> SystemFactsSource:
    """Create the system facts source, cached for ``fact_cache_time`` seconds; nothing
    is probed until the first ``get``."""
    # The plugin has no settings of its own; this rejects a mistyped plugin.system.* key
    # with its file and line instead of ignoring it.
    config.plugin_config(PLUGIN, {})
    return SystemFactsSource(config.fact_cache_time)
