"""What a security plugin provides, and the encode/decode steps that use it.

A provider adds its fields (signature, token, key id) to the secure layer around the
exact serialised request or reply, and checks them on the other side. Verification
failures raise :class:`SecurityError`; the daemon counts them as ``unvalidated`` and drops
the message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from mcollective.errors import MessageError, SecurityError
from mcollective.message import Reply, Request, unwrap_secure, wrap_secure

CALLER_RE = r"^\w+=[\w.\-@]+$"


class SecurityProvider(ABC):
    """Signs and verifies messages for one process (a client or a daemon)."""

    #: The plugin name written into the secure layer's ``security`` field.
    name: str

    @abstractmethod
    def caller_id(self) -> str:
        """This client's caller id, ``kind=name`` (``user=alice``)."""

    @abstractmethod
    def sign_request(self, payload: str, request: Request) -> Mapping[str, Any]:
        """Secure-layer fields authenticating the serialised request ``payload``."""

    @abstractmethod
    def verify_request(self, fields: Mapping[str, Any], payload: str,
                       request: Request) -> None:
        """Raise SecurityError unless ``fields`` authenticate ``payload`` and the caller
        may make ``request``."""

    @abstractmethod
    def sign_reply(self, payload: str, reply: Reply) -> Mapping[str, Any]:
        """Secure-layer fields authenticating the serialised reply ``payload``."""

    @abstractmethod
    def verify_reply(self, fields: Mapping[str, Any], payload: str, reply: Reply) -> None:
        """Raise SecurityError unless ``fields`` authenticate ``payload``."""


def encode_request(request: Request, security: SecurityProvider) -> bytes:
    payload = request.to_json()
    return wrap_secure("request", payload, security.name,
                       security.sign_request(payload, request))


def decode_request(data: bytes, security: SecurityProvider) -> Request:
    """Parse and verify one secure request. Raises MessageError (malformed) or
    SecurityError (failed verification)."""
    fields, payload = unwrap_secure("request", data)
    if fields["security"] != security.name:
        raise SecurityError(f"request secured by '{fields['security']}', "
                            f"this node uses '{security.name}'")
    request = Request.from_json(payload)
    security.verify_request(fields, payload, request)
    return request


def encode_reply(reply: Reply, security: SecurityProvider) -> bytes:
    payload = reply.to_json()
    return wrap_secure("reply", payload, security.name, security.sign_reply(payload, reply))


def decode_reply(data: bytes, security: SecurityProvider) -> Reply:
    fields, payload = unwrap_secure("reply", data)
    if fields["security"] != security.name:
        raise SecurityError(f"reply secured by '{fields['security']}', "
                            f"this client uses '{security.name}'")
    reply = Reply.from_json(payload)
    security.verify_reply(fields, payload, reply)
    return reply


__all__ = [
    "CALLER_RE", "MessageError", "SecurityError", "SecurityProvider", "decode_reply",
    "decode_request", "encode_reply", "encode_request",
]
