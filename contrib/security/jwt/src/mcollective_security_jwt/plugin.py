"""Entry point ``jwt`` of group ``mcollective.security``: builds the provider from
``plugin.jwt.*`` configuration when a client or the daemon starts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from mcollective import hookimpl
from mcollective_security_jwt.credentials import load_credentials
from mcollective_security_jwt.provider import JwtSecurity
from mcollective_security_jwt.settings import JwtSettings

if TYPE_CHECKING:
    from mcollective.config import Config

log = logging.getLogger(__name__)


def create_provider(config: Config, role: Literal["client", "server"],
                    now: float | None = None) -> JwtSecurity:
    """The provider for ``config``. Keys and token are read and checked here, so any
    mistake stops start-up with a ConfigError naming the key and the fix."""
    settings = JwtSettings.from_config(config)
    credentials = load_credentials(settings, config, role, now)
    provider = JwtSecurity(credentials, role=role, sign_replies=settings.sign_replies,
                           clock_skew=settings.clock_skew)
    token = provider.token
    log.debug("jwt: %s, valid until %s, issuers %s", token.describe(), token.expires,
              credentials.issuers.describe())
    return provider


@hookimpl
def mco_security_create(config: Config, role: Literal["client", "server"]) -> JwtSecurity:
    """Create the jwt provider (see :func:`create_provider`)."""
    return create_provider(config, role)
