"""Helpers for security-plugin tests: realistic messages, and taking the secure layer
apart and back together to tamper with a signed message."""

from __future__ import annotations

import json
from typing import Any

from mcollective.message import Reply, Request


def sample_request(caller: str = "user=alice", **overrides: Any) -> Request:
    """A request with every field set (a fact and class filter, data, reply_to), so that
    tampering with any of them can be tested."""
    values: dict[str, Any] = {
        "agent": "rpcutil", "collective": "mcollective", "sender": "client1",
        "caller": caller, "message": {"action": "ping", "data": {"n": 1},
                                      "process_results": True},
        "filter": {"fact": [{"fact": "os.family", "operator": "==", "value": "Debian"}],
                   "cf_class": ["web"], "agent": ["rpcutil"], "identity": [],
                   "compound": []},
        "ttl": 60, "reply_to": "replies.client1",
    }
    values.update(overrides)
    return Request(**values)


def sample_reply(**overrides: Any) -> Reply:
    values: dict[str, Any] = {"request": "0" * 32, "sender": "node1", "agent": "rpcutil",
                              "data": {"pong": 1700000000}}
    values.update(overrides)
    return Reply(**values)


def split_secure(data: bytes, kind: str = "request") -> tuple[dict[str, Any], dict[str, Any]]:
    """The secure layer and the decoded payload of an encoded message."""
    outer = json.loads(data)
    return outer, json.loads(outer[kind])


def join_secure(outer: dict[str, Any], payload: dict[str, Any] | str,
                kind: str = "request") -> bytes:
    """Re-assemble a secure message, keeping the security fields as they were."""
    outer = dict(outer)
    outer[kind] = payload if isinstance(payload, str) else json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(outer).encode("utf-8")
