"""Entry point ``actionpolicy`` of group ``mcollective.authorization``: builds the
authorizer from ``plugin.actionpolicy.*`` when a daemon starts or reloads."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mcollective import hookimpl
from mcollective_actionpolicy.authorizer import ActionPolicy
from mcollective_actionpolicy.settings import ActionPolicySettings

if TYPE_CHECKING:
    from mcollective.authorization import Authorizer
    from mcollective.config import Config

log = logging.getLogger(__name__)


def create_authorizer(config: Config) -> ActionPolicy:
    """The authorizer for ``config``. Settings are checked now (a bad key stops the
    daemon with a ConfigError); policy files are read on first use, so a missing
    directory only warns."""
    settings = ActionPolicySettings.from_config(config)
    if not settings.policy_dir.is_dir():
        log.warning("actionpolicy: policy directory %s does not exist; every agent is "
                    "unconfigured (allow_unconfigured is %s)", settings.policy_dir,
                    "on" if settings.allow_unconfigured else "off")
    return ActionPolicy(settings)


@hookimpl
def mco_authorization_create(config: Config) -> Authorizer:
    """Create the actionpolicy authorizer (see :func:`create_authorizer`)."""
    return create_authorizer(config)
