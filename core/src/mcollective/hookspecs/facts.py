"""Facts plugins: the metadata a node is discovered by.

Entry-point group ``mcollective.facts``; enabled by the ``factsource`` config key, a
comma-separated list (default ``yaml``). Facts of the sources are merged in that order,
later sources overriding earlier ones key by key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.facts import FactsSource


@hookspec(firstresult=True)
def mco_facts_create(name: str, config: Config) -> FactsSource:
    """Create the facts source named ``name``.

    Called at daemon start-up and on every configuration reload (SIGHUP), once per name
    listed in ``factsource``. The returned :class:`mcollective.facts.FactsSource` is then
    asked for facts whenever a filter or an agent needs them; it caches as it sees fit
    and keeps its last good set when a reload fails.

    Raising here is not fatal: the daemon logs the plugin by name and runs without that
    source.
    """
