"""Facts plugins: the metadata a node is discovered by.

Entry-point group ``mcollective.facts``; enabled by the ``factsource`` config key, a
comma-separated list (default ``system, yaml``). Facts of the sources are merged in
that order, later sources overriding earlier ones key by key (top-level keys: a later
``os`` replaces an earlier ``os`` whole).
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
    and keeps its last good set when a reload fails. The daemon then calls its
    ``start()`` (a slow source, such as Facter's, begins producing facts in the
    background: :class:`mcollective.facts_cache.BackgroundFactsSource`), on a reload
    ``succeed(previous)`` (keep answering with the old source's facts meanwhile), and
    shows its ``describe()`` in ``rpcutil daemon_stats`` under ``facts.<name>``.

    Raising here is not fatal: the daemon logs the plugin by name and runs without that
    source.
    """
