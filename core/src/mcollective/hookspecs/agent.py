"""Agent plugins: the actions a node can run.

Entry-point group ``mcollective.agents``. Every installed agent is loaded unless
``activate_agents = 0`` or ``plugin.<agent>.activate_agent = 0`` turns it off. An entry
point usually names an :class:`mcollective.agent.Agent` subclass directly: the base class
already implements this hook and returns the class itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.agent import Agent
    from mcollective.config import Config


@hookspec(firstresult=True)
def mco_agent_classes(name: str, config: Config) -> Sequence[type[Agent]]:
    """Return the agent classes that the entry point ``name`` provides.

    Called by the daemon at start-up and on every reload (SIGHUP), and by clients that
    want an agent's DDL. Usually a single class; a plugin that hosts agents defined
    elsewhere (external agents found in directories, say) may return several.

    Raising here is not fatal: the daemon logs the plugin by name and serves the others.
    """
