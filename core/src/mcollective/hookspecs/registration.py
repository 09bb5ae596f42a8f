"""Registration plugins: what a node periodically announces about itself.

Entry-point group ``mcollective.registration``; chosen by the ``registration`` config key
(default ``agentlist``) and active when ``registerinterval`` is above zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.registration import RegistrationPlugin


@hookspec(firstresult=True)
def mco_registration_create(name: str, config: Config) -> RegistrationPlugin:
    """Create the registration plugin named ``name``.

    Called at daemon start-up and on reload when ``registerinterval`` is above zero. Every
    interval the daemon asks the returned object for a payload and publishes it to the
    ``registration`` agent in ``registration_collective``.

    Raising here is not fatal: registration is logged as broken and switched off.
    """
