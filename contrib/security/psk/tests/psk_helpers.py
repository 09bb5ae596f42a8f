"""Shared builders for the psk tests (a plain module: the contrib test directories share
one pytest run, so only uniquely named modules are safe to import)."""

from __future__ import annotations

import json
from typing import Any

from mcollective.config import config_from_text
from mcollective.message import Reply, Request
from mcollective_security_psk.plugin import create_provider
from mcollective_security_psk.provider import PskSecurity

SECRET = "correct horse battery staple"


def provider(secret: str = SECRET, role: str = "client", extra: str = "") -> PskSecurity:
    config = config_from_text(f"identity = node1\nplugin.psk = {secret}\n{extra}")
    return create_provider(config, role, environ={})  # type: ignore[arg-type]


def request(**overrides: Any) -> Request:
    values: dict[str, Any] = {
        "agent": "rpcutil", "collective": "mcollective", "sender": "client1",
        "caller": "user=alice", "message": {"action": "ping", "data": {"n": 1},
                                            "process_results": True},
        "filter": {"fact": [{"fact": "os.family", "operator": "==", "value": "Debian"}],
                   "cf_class": ["web"], "agent": ["rpcutil"], "identity": [],
                   "compound": []},
        "ttl": 60, "reply_to": "replies.client1",
    }
    values.update(overrides)
    return Request(**values)


def reply(**overrides: Any) -> Reply:
    values: dict[str, Any] = {"request": "0" * 32, "sender": "node1", "agent": "rpcutil",
                              "data": {"pong": 1700000000}}
    values.update(overrides)
    return Reply(**values)


def split(data: bytes, kind: str = "request") -> tuple[dict[str, Any], dict[str, Any]]:
    """The secure layer and the decoded payload of an encoded message."""
    outer = json.loads(data)
    return outer, json.loads(outer[kind])


def join(outer: dict[str, Any], payload: dict[str, Any] | str, kind: str = "request"
         ) -> bytes:
    """Re-assemble a secure message, keeping the signature fields as they were."""
    outer = dict(outer)
    outer[kind] = payload if isinstance(payload, str) else json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(outer).encode("utf-8")
