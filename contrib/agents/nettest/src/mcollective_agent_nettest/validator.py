"""``nettest_fqdn``: a host name or an IP address, checked on the client before a
request is sent and again on every node before the action runs."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from mcollective.errors import ValidatorError
from mcollective.hookspecs import hookimpl

#: RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens
#: (the expression Choria's validator uses, with a trailing root dot allowed).
_HOSTNAME = re.compile(
    r"(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*"
    r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])\.?\Z")


def nettest_fqdn(value: Any) -> None:
    """Accept an IPv4 or IPv6 address or a host name; raise :class:`ValidatorError`
    otherwise. Unlike Choria, IPv6 addresses are accepted too."""
    if not isinstance(value, str) or not value:
        raise ValidatorError("value should be a valid fqdn or IP address")
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if len(value) > 253 or not _HOSTNAME.match(value) or \
            any(len(label) > 63 for label in value.rstrip(".").split(".")):
        raise ValidatorError(f"{value!r} is not a valid fqdn or IP address")


class NettestFqdn:
    """Plugin object for the ``mcollective.validators`` entry point."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "A host name or an IP address"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        return nettest_fqdn
