"""Security plugins: who sent a message, and was it changed on the way.

Entry-point group ``mcollective.security``; chosen by the ``securityprovider`` config
key (default ``psk``). A security provider is required: a missing or broken one is fatal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.security import SecurityProvider


@hookspec(firstresult=True)
def mco_security_create(
    name: str, config: Config, role: Literal["client", "server"]
) -> SecurityProvider:
    """Create the security provider named ``name``.

    Called once at start-up by the daemon (``role="server"``) and by every client
    (``role="client"``). The provider signs outgoing requests or replies and verifies
    incoming ones; see :class:`mcollective.security.SecurityProvider`.

    Only the plugin loaded under ``name`` is asked. Raising
    :class:`mcollective.errors.ConfigError` reports a configuration mistake (missing key
    material, say); any exception is fatal at start-up.
    """
