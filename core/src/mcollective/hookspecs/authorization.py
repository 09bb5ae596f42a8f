"""Authorization plugins: may this caller run this action on this node.

Entry-point group ``mcollective.authorization``; chosen by ``rpcauthprovider`` and active
when ``rpcauthorization = 1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.authorization import Authorizer
    from mcollective.config import Config


@hookspec(firstresult=True)
def mco_authorization_create(name: str, config: Config) -> Authorizer:
    """Create the authorizer named ``name``.

    Called at daemon start-up and on reload. The daemon asks the authorizer about every
    request that passed validation; a denial is answered with status 1.

    When authorization is enabled a missing or broken authorizer is fatal: running
    without the configured policy would allow what the operator meant to deny.
    """
