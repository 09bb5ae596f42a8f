"""Hostile input every connector and daemon must survive (issue 11): garbage on the
transport, and requests whose fields are out of bounds.

Two uses:

* :data:`GARBAGE` is what :class:`~mcollective.testing.contracts.ConnectorContract`
  injects, raw, onto every transport (through :meth:`ConnectorFactory.inject`): bytes
  that are not JSON, JSON that is not the transport's envelope, envelopes with the
  wrong types, binary, a huge message. A connector must hand each one to the daemon as
  a body or count it in ``stats["malformed"]``, never take it for a broken connection,
  and keep delivering normal messages;
* :func:`hostile_requests` builds signed requests whose fields break the documented
  bounds (``docs/security.md``): a daemon must count each one and drop it, and go on
  answering everybody else (:func:`ping_all` measures that).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcollective.client import Client

#: Largest garbage message: larger than any max_message_size default, smaller than
#: what every broker accepts (SQS takes 256 KiB; factories may shrink it).
HUGE = 200_000


def _garbage() -> list[tuple[str, bytes]]:
    binary = bytes(range(256)) * 8
    return [
        ("not json", b"this is not json {"),
        ("empty", b""),
        ("binary", binary),
        ("not utf-8", b"\xff\xfe\xfd{\"body\": 1}"),
        ("nul bytes", b"\x00" * 64),
        ("json array", b"[1, 2, 3]"),
        ("json string", b'"hello"'),
        ("json number", b"1e999"),
        ("json null", b"null"),
        ("empty object", b"{}"),
        ("deeply nested", b"[" * 50_000 + b"]" * 50_000),
        ("wrong envelope", b'{"body": 5, "properties": "x"}'),
        ("wrong types", json.dumps({
            "body": {"a": 1}, "headers": [1, 2],
            "properties": {"delivery_tag": [], "body_encoding": 7,
                           "delivery_info": "x"}}).encode()),
        ("integer body", json.dumps({
            "body": 10 ** 12, "properties": {"delivery_tag": "t", "delivery_info": {}}}
        ).encode()),
        ("bad base64", json.dumps({
            "body": "!!not base64!!", "content-type": "application/octet-stream",
            "properties": {"body_encoding": "base64", "delivery_tag": "t",
                           "delivery_info": {}}}).encode()),
        ("kombu type hook", b'{"__type__": "datetime", "__value__": 5}'),
        ("huge", b"x" * HUGE),
    ]


#: (name, raw bytes) pairs of transport garbage, in a fixed order.
GARBAGE: list[tuple[str, bytes]] = _garbage()


# --- out-of-bounds requests --------------------------------------------------------------

@dataclass(frozen=True)
class HostileRequest:
    """A request field set outside its bound, and the bound it breaks."""

    name: str
    field: str
    overrides: dict[str, Any]


#: Each breaks one documented bound (see docs/security.md, "Bounds").
HOSTILE_FIELDS: list[HostileRequest] = [
    HostileRequest("absurd ttl", "ttl", {"ttl": 10 ** 15}),
    HostileRequest("ttl above the maximum", "ttl", {"ttl": 10 * 24 * 3600}),
    HostileRequest("long reply_to", "reply_to", {"reply_to": "r" * 300}),
    HostileRequest("long agent", "agent", {"agent": "a" * 300}),
    HostileRequest("long caller", "caller", {"caller": "c" * 5000}),
    HostileRequest("long collective", "collective", {"collective": "k" * 300}),
    HostileRequest("long sender", "sender", {"sender": "s" * 5000}),
]


def hostile_requests(make: Callable[[dict[str, Any]], bytes]) -> Iterator[
        tuple[HostileRequest, bytes]]:
    """Each :data:`HOSTILE_FIELDS` entry as a signed body: ``make(overrides)`` builds,
    signs and encodes a request with those fields replaced (bypassing the client's own
    checks, as an attacker would)."""
    for case in HOSTILE_FIELDS:
        yield case, make(dict(case.overrides))


def ping_all(client: Client, expected: set[str], *, bound: float = 10.0
             ) -> tuple[set[str], float]:
    """Broadcast ``rpcutil ping`` and return who answered and how long the last one
    took; the daemons must keep answering while hostile traffic runs."""
    start = time.monotonic()
    results = client.call("rpcutil", "ping", timeout=bound, expected=expected)
    answered = {r.sender for r in results if r.statuscode == 0}
    return answered, time.monotonic() - start
