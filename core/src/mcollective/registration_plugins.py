"""Core's registration plugins, declared as entry points like third-party ones.

Both produce a JSON object (the daemon sends it as ``{"payload": ...}`` to the
``registration`` agent); the receiver in :mod:`mcollective.agents.registration` reads
either.
"""

from __future__ import annotations

from typing import Any

from mcollective.hookspecs import hookimpl
from mcollective.registration import RegistrationContext, RegistrationPlugin


class AgentList(RegistrationPlugin):
    """MCollective's ``agentlist``: the names of the agents a node runs."""

    def payload(self, context: RegistrationContext) -> Any:
        return {"agentlist": sorted(context.agents), "identity": context.identity}

    @hookimpl
    @classmethod
    def mco_registration_create(cls) -> RegistrationPlugin:
        return cls()


class Meta(RegistrationPlugin):
    """The ``meta`` plugin of mcollective-plugins: agents, facts, classes and
    collectives, everything an inventory needs to discover and describe a node without
    asking it."""

    def payload(self, context: RegistrationContext) -> Any:
        return {
            "identity": context.identity,
            "agentlist": sorted(context.agents),
            "facts": dict(context.facts),
            "classes": sorted(context.classes),
            "collectives": list(context.collectives),
        }

    @hookimpl
    @classmethod
    def mco_registration_create(cls) -> RegistrationPlugin:
        return cls()
