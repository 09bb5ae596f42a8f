"""Entry point ``x509`` of group ``mcollective.security``: builds the provider from
``plugin.x509.*`` configuration when a client or the daemon starts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from mcollective import hookimpl
from mcollective_security_x509.credentials import load_credentials
from mcollective_security_x509.provider import X509Security
from mcollective_security_x509.settings import X509Settings

if TYPE_CHECKING:
    from mcollective.config import Config

log = logging.getLogger(__name__)


def create_provider(config: Config, role: Literal["client", "server"],
                    now: float | None = None) -> X509Security:
    """The provider for ``config``. Key, certificate, CA and CRL are read and checked
    here, so any mistake stops start-up with a ConfigError naming the file and key."""
    settings = X509Settings.from_config(config)
    credentials = load_credentials(settings, config, role, now)
    provider = X509Security(credentials.own, credentials.authority, role=role,
                            clients=settings.clients or (), nodes=settings.nodes,
                            delegators=settings.delegators,
                            name_from=settings.name_from)
    log.debug("x509: signing as %s with %s; %s", provider.caller_id(),
              credentials.own.cert_path, credentials.authority.describe())
    return provider


@hookimpl
def mco_security_create(config: Config, role: Literal["client", "server"]) -> X509Security:
    """Create the x509 provider (see :func:`create_provider`)."""
    return create_provider(config, role)
