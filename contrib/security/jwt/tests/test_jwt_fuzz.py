"""Property: whatever arrives from the network, decoding either succeeds or raises
MessageError or SecurityError, never another exception (the daemon relies on this to
count and drop bad messages without crashing a worker)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jwt_helpers import alice, client_token, join, node1, reply, request, split

from mcollective.errors import MessageError, SecurityError
from mcollective.message import SECURE_REPLY_PROTOCOL, SECURE_REQUEST_PROTOCOL
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request

CLIENT = alice()
SERVER = node1()
ALLOWED = (MessageError, SecurityError)

scalars = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=True, allow_infinity=True) | st.text())
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
hexish = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=140)


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


# Token-shaped strings: three base64url segments of arbitrary JSON.
jwtish = st.builds(lambda h, c, s: f"{_segment(h)}.{_segment(c)}.{s}",
                   json_values, json_values, st.text(alphabet="AZaz09-_", max_size=90))
token_values = json_values | jwtish | st.just(client_token())
signature_values = json_values | hexish

SIGNED_REQUEST = encode_request(request(), CLIENT)
SIGNED_REPLY = encode_reply(reply(), SERVER)
REQUEST_KEYS = sorted(split(SIGNED_REQUEST)[1])
REPLY_KEYS = sorted(split(SIGNED_REPLY, "reply")[1])


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _decode_both(data: bytes) -> None:
    for decode, security in ((decode_request, SERVER), (decode_reply, CLIENT)):
        try:
            decode(data, security)
        except ALLOWED:
            pass


@given(st.binary(max_size=512))
@example(b"\xef\xbb\xbf{}")
def test_arbitrary_bytes(data: bytes) -> None:
    _decode_both(data)


@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    _decode_both(_dump(value))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    protocol=st.sampled_from([SECURE_REQUEST_PROTOCOL, SECURE_REPLY_PROTOCOL]) | st.text(),
    security=st.just("jwt") | json_values,
    body=st.text() | json_values.map(json.dumps) | json_values,
    signature=signature_values,
    token=token_values,
    digest=signature_values,
)
def test_arbitrary_secure_layers(protocol: Any, security: Any, body: Any, signature: Any,
                                 token: Any, digest: Any) -> None:
    for kind in ("request", "reply"):
        outer = {"protocol": protocol, "security": security, kind: body,
                 "signature": signature, "token": token, "hash": digest}
        _decode_both(_dump(outer))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(REQUEST_KEYS), value=json_values)
def test_mutated_signed_request(key: str, value: Any) -> None:
    outer, payload = split(SIGNED_REQUEST)
    original = outer["request"]
    payload[key] = value
    data = join(outer, payload)
    try:
        decode_request(data, SERVER)
    except ALLOWED:
        return
    # Accepted only if the mutation left the signed string as it was.
    assert json.loads(data)["request"] == original


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(REPLY_KEYS), value=json_values)
def test_mutated_signed_reply(key: str, value: Any) -> None:
    outer, payload = split(SIGNED_REPLY, "reply")
    original = outer["reply"]
    payload[key] = value
    data = join(outer, payload, "reply")
    try:
        decode_reply(data, CLIENT)
    except ALLOWED:
        return
    assert json.loads(data)["reply"] == original


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(signature=signature_values, token=token_values)
def test_arbitrary_fields_on_a_real_request(signature: Any, token: Any) -> None:
    outer, payload = split(SIGNED_REQUEST)
    if signature == outer["signature"] and token == outer["token"]:
        return
    outer.update(signature=signature, token=token)
    with pytest.raises(SecurityError):
        decode_request(join(outer, payload), SERVER)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(header=json_values, claims=json_values)
def test_arbitrary_token_contents(header: Any, claims: Any) -> None:
    outer, payload = split(SIGNED_REQUEST)
    outer["token"] = f"{_segment(header)}.{_segment(claims)}.{outer['signature'][:86]}"
    with pytest.raises(SecurityError):
        decode_request(join(outer, payload), SERVER)
