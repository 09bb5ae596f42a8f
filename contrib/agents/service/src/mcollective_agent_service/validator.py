"""``service_name``: what a service name may contain, checked on the client before a
request is sent and again on every node."""

from __future__ import annotations

import re
from typing import Any

from mcollective.errors import ValidatorError
from mcollective.hookspecs import hookimpl

#: Choria's characters (letters, digits, ``. - _ : @``), plus ``\`` for systemd's
#: escapes (``dev-disk-by\x2dlabel``). A leading ``-`` is refused: it would read as an
#: option to the service manager.
_NAME = re.compile(r"[a-zA-Z0-9_.:@\\][a-zA-Z0-9_.:@\\-]*\Z")


def service_name(value: Any) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidatorError(f"{value!r} is not a valid service name")


class ServiceName:
    """Plugin object for the ``mcollective.validators`` entry point."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "What a service name may contain"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        return service_name
