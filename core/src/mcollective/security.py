"""What a security plugin provides, and the encode/decode steps that use it.

A provider adds its fields (signature, token, key id) to the secure layer around the
exact serialised request or reply, and checks them on the other side. Verification
failures raise :class:`SecurityError`; the daemon counts them as ``unvalidated`` and drops
the message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcollective.errors import MessageError, SecurityError
from mcollective.message import Reply, Request, unwrap_secure, wrap_secure

CALLER_RE = r"^\w+=[\w.\-@]+$"


@dataclass(frozen=True)
class ProvenIdentity:
    """Who proved to be whom (:meth:`SecurityProvider.verify_identity_proof`).

    ``caller`` is the caller id the proof establishes; ``credential`` is what
    :meth:`SecurityProvider.delegate` needs to sign for that caller (the caller's token
    for jwt); ``expires`` is when the proof's credential stops being valid (Unix
    seconds), if it does."""

    caller: str
    credential: str | None = None
    expires: float | None = None


class SecurityProvider(ABC):
    """Signs and verifies messages for one process (a client or a daemon).

    Besides the abstract methods, a provider may support *delegation*, for processes
    that act for several users at once (a web console, a gateway): :meth:`delegate`
    returns a provider signing as another caller, and the identity-proof pair lets a
    user prove, from their own machine, who they are to such a process. The defaults
    refuse, naming the plugin.
    """

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

    # --- delegation (optional) -------------------------------------------------------

    def delegate(self, caller: str, credential: str | None = None) -> SecurityProvider:
        """A provider that signs requests as ``caller`` on this process's authority,
        so that nodes (their authorization and audit) see that caller.

        ``credential`` is whatever the plugin needs to vouch for the caller (jwt: the
        caller's own token, from :meth:`verify_identity_proof` or the console's
        account file). Raise SecurityError when this process may not sign for
        ``caller``. The returned provider verifies replies as this one does."""
        raise SecurityError(f"the {self.name} security plugin cannot sign requests on "
                            "behalf of other callers")

    def identity_proof(self, challenge: str) -> str:
        """A one-line proof that this process holds its caller's credentials, bound to
        ``challenge`` (a nonce a console showed); checked by
        :meth:`verify_identity_proof`."""
        raise SecurityError(f"the {self.name} security plugin has no identity proofs: "
                            "sign in with a password instead")

    def verify_identity_proof(self, proof: str, challenge: str) -> ProvenIdentity:
        """Who ``proof`` (from :meth:`identity_proof`) proves to be; SecurityError
        saying why it proves nothing."""
        raise SecurityError(f"the {self.name} security plugin has no identity proofs: "
                            "sign in with a password instead")


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
    "CALLER_RE", "MessageError", "ProvenIdentity", "SecurityError", "SecurityProvider",
    "decode_reply",
    "decode_request", "encode_reply", "encode_request",
]
