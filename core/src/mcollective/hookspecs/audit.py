"""Audit plugins: a record of every request a node acted on.

Entry-point group ``mcollective.audit``; enabled by ``rpcaudit = 1`` and the
``rpcauditprovider`` config key (a comma-separated list: several may run together).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.audit import Auditor
    from mcollective.config import Config


@hookspec(firstresult=True)
def mco_audit_create(name: str, config: Config) -> Auditor:
    """Create the auditor named ``name``.

    Called at daemon start-up and on reload. The daemon calls the auditor's ``audit``
    method for every request after validation and authorization, before the action runs.

    Raising here is not fatal: the daemon logs the plugin by name and runs without it.
    An exception from ``audit`` itself is logged and never breaks the request.
    """
