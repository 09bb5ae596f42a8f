"""Entry point ``psk`` of group ``mcollective.security``: builds the provider from
``plugin.psk*`` configuration when a client or the daemon starts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from mcollective import hookimpl
from mcollective.errors import ConfigError
from mcollective_security_psk.caller import resolve_caller
from mcollective_security_psk.keys import load_key
from mcollective_security_psk.provider import PskSecurity
from mcollective_security_psk.settings import PskSettings

if TYPE_CHECKING:
    from mcollective.config import Config

log = logging.getLogger(__name__)


def _caller(settings: PskSettings, config: Config, role: str) -> str:
    try:
        return resolve_caller(settings.callertype, config.identity)
    except ValueError as exc:
        if role == "server":
            # A daemon only needs a caller id for the requests it originates itself
            # (registration); naming it by its identity beats refusing to start.
            fallback = f"identity={config.identity}"
            log.warning("psk: %s; the daemon uses caller id %s", exc, fallback)
            return fallback
        where = config.source("plugin.psk.callertype")
        raise ConfigError(str(exc), file=where.file if where else None,
                          line=where.line if where else None,
                          key="plugin.psk.callertype") from None


def create_provider(config: Config, role: Literal["client", "server"],
                    environ: Mapping[str, str] | None = None) -> PskSecurity:
    """The provider for ``config``: key, caller id and settings checked up front, so a
    mistake stops start-up with a ConfigError instead of failing every message."""
    settings = PskSettings.from_config(config)
    key = load_key(settings, config, environ)
    provider = PskSecurity(key, _caller(settings, config, role))
    log.debug("psk: key id %s from %s, caller %s", key.key_id, key.source,
              provider.caller_id())
    return provider


@hookimpl
def mco_security_create(config: Config, role: Literal["client", "server"]) -> PskSecurity:
    """Create the psk provider (see :func:`create_provider`)."""
    return create_provider(config, role)
