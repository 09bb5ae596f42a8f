"""The validators the puppet DDL names, checked on the client before a request is sent
and again on every node: ``puppet_tags``, ``puppet_variable``,
``puppet_server_address``."""

from __future__ import annotations

import re
from typing import Any

from mcollective.errors import ValidatorError
from mcollective.hookspecs import hookimpl

#: Puppet's tag syntax (``Puppet::Util::Tagging``): letters, digits, ``_ : . -``,
#: not starting with ``-`` or ``.``; class names (``apache::mod``) included.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:.\-]*\Z")
#: An environment name (Puppet: ``\A[a-z0-9_]+\z``; upper case accepted as the Ruby
#: validator did).
_VARIABLE = re.compile(r"[A-Za-z0-9_]+\Z")
_HOST = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.?\Z")


def puppet_tags(value: Any) -> None:
    if not isinstance(value, str):
        raise ValidatorError(f"{value!r} is not a comma-separated list of Puppet tags")
    for tag in value.split(","):
        if not _TAG.match(tag.strip()):
            raise ValidatorError(f"{tag.strip()!r} is not a valid Puppet tag")


def puppet_variable(value: Any) -> None:
    if not isinstance(value, str) or not _VARIABLE.match(value):
        raise ValidatorError(f"{value!r} is not a valid Puppet environment or variable "
                             "name (letters, digits and _)")


def split_server(value: str) -> tuple[str, int | None]:
    """``host`` or ``host:port`` (``[v6]:port`` too) → (host, port)."""
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1:]
        if rest:
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else -1
        return host, port
    if value.count(":") == 1:
        host, text = value.split(":")
        port = int(text) if text.isdigit() else -1
    return host, port


def puppet_server_address(value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValidatorError(f"{value!r} is not a valid Puppet server address")
    host, port = split_server(value)
    if port is not None and not 0 < port < 65536:
        raise ValidatorError(f"{value!r} is not a valid Puppet server address: "
                             "the port must be a number from 1 to 65535")
    if not (_HOST.match(host) or re.fullmatch(r"[0-9A-Fa-f:.]+", host)):
        raise ValidatorError(f"{value!r} is not a valid Puppet server address "
                             "(host or host:port)")


class PuppetTags:
    """Plugin object for the ``mcollective.validators`` entry point ``puppet_tags``."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "Puppet tags, comma separated: names and class names (apache::mod)"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        return puppet_tags


class PuppetVariable:
    """Plugin object for the entry point ``puppet_variable``."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "A Puppet setting or variable name (an environment, say)"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        return puppet_variable


class PuppetServerAddress:
    """Plugin object for the entry point ``puppet_server_address``."""

    #: What ``mco plugin doc`` shows for this plugin.
    description = "A Puppet server: host or host:port"

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        return puppet_server_address
