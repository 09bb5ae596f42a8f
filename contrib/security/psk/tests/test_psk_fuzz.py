"""Property: whatever arrives from the network, decoding either succeeds or raises
MessageError or SecurityError, never another exception (the daemon relies on this to
count and drop bad messages without crashing a worker)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psk_helpers import join, provider, reply, request, split

from mcollective.errors import MessageError, SecurityError
from mcollective.message import SECURE_REPLY_PROTOCOL, SECURE_REQUEST_PROTOCOL
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request

PSK = provider()
ALLOWED = (MessageError, SecurityError)

# Unbounded integers: a 'time' too large for a float must be a MessageError
# (test_huge_integer_time pins that case explicitly).
scalars = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=True, allow_infinity=True) | st.text())
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
hexish = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=70)
signature_values = json_values | hexish

SIGNED_REQUEST = encode_request(request(), PSK)
SIGNED_REPLY = encode_reply(reply(), PSK)
REQUEST_KEYS = sorted(split(SIGNED_REQUEST)[1])
REPLY_KEYS = sorted(split(SIGNED_REPLY, "reply")[1])


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _decode_both(data: bytes) -> None:
    for decode in (decode_request, decode_reply):
        try:
            decode(data, PSK)
        except ALLOWED:
            pass


@given(st.binary(max_size=512))
@example(b"\xef\xbb\xbf{}")  # UTF-8 BOM
@example(b"\x00" * 8)
def test_arbitrary_bytes(data: bytes) -> None:
    _decode_both(data)


@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    _decode_both(_dump(value))


@given(
    protocol=st.sampled_from([SECURE_REQUEST_PROTOCOL, SECURE_REPLY_PROTOCOL]) | st.text(),
    security=st.just("psk") | json_values,
    body=st.text() | json_values.map(json.dumps) | json_values,
    signature=signature_values,
    key_id=signature_values,
)
def test_arbitrary_secure_layers(protocol: Any, security: Any, body: Any, signature: Any,
                                 key_id: Any) -> None:
    for kind in ("request", "reply"):
        outer = {"protocol": protocol, "security": security, kind: body,
                 "signature": signature, "key_id": key_id}
        _decode_both(_dump(outer))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(REQUEST_KEYS), value=json_values)
def test_mutated_signed_request(key: str, value: Any) -> None:
    outer, payload = split(SIGNED_REQUEST)
    original = outer["request"]
    payload[key] = value
    data = join(outer, payload)
    try:
        decoded = decode_request(data, PSK)
    except ALLOWED:
        return
    # Accepted only if the mutation left the signed string as it was.
    assert json.loads(data)["request"] == original
    assert decoded == request().__class__.from_json(original)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(REPLY_KEYS), value=json_values)
def test_mutated_signed_reply(key: str, value: Any) -> None:
    outer, payload = split(SIGNED_REPLY, "reply")
    original = outer["reply"]
    payload[key] = value
    data = join(outer, payload, "reply")
    try:
        decode_reply(data, PSK)
    except ALLOWED:
        return
    assert json.loads(data)["reply"] == original


@given(signature=signature_values, key_id=signature_values)
def test_arbitrary_signature_fields_on_a_real_request(signature: Any, key_id: Any) -> None:
    outer, payload = split(SIGNED_REQUEST)
    if signature == outer["signature"] and key_id == outer["key_id"]:
        return
    outer.update(signature=signature, key_id=key_id)
    with pytest.raises(SecurityError):
        decode_request(join(outer, payload), PSK)


@pytest.mark.parametrize("kind", ["request", "reply"])
def test_huge_integer_time(kind: str) -> None:
    signed = SIGNED_REQUEST if kind == "request" else SIGNED_REPLY
    outer, payload = split(signed, kind)
    payload["time"] = 10**400
    decode = decode_request if kind == "request" else decode_reply
    with pytest.raises(ALLOWED):
        decode(join(outer, payload, kind), PSK)
