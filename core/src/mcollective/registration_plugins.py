"""Core's registration plugins, declared as entry points like third-party ones."""

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
