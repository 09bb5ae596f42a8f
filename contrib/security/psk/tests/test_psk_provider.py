"""Signing and verifying through core's encode/decode functions: round trips, every
kind of tampering, wrong keys and malformed secure layers."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from psk_helpers import SECRET, join, provider, reply, request, split

from mcollective.errors import MessageError, SecurityError
from mcollective.message import wrap_secure
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request
from mcollective_security_psk.keys import key_id_of
from mcollective_security_psk.provider import PskSecurity


@pytest.fixture
def psk() -> PskSecurity:
    return provider()


# --- round trips ----------------------------------------------------------------------


def test_request_round_trip(psk: PskSecurity) -> None:
    original = request()
    decoded = decode_request(encode_request(original, psk), provider(role="server"))
    assert decoded == original


def test_reply_round_trip(psk: PskSecurity) -> None:
    original = reply(data={"nested": {"list": [1, 2.5, "x", None, True]}, "ü": "ß"})
    assert decode_reply(encode_reply(original, psk), psk) == original


def test_secure_layer_fields(psk: PskSecurity) -> None:
    """The wire format is documented: HMAC-SHA256 hex of the payload string, and the
    key fingerprint."""
    outer, _ = split(encode_request(request(), psk))
    assert set(outer) == {"protocol", "security", "request", "signature", "key_id"}
    assert outer["security"] == "psk"
    expected = hmac.new(SECRET.encode(), outer["request"].encode(), hashlib.sha256)
    assert outer["signature"] == expected.hexdigest()
    assert outer["key_id"] == key_id_of(SECRET.encode()) == psk.key_id
    assert len(outer["key_id"]) == 16


def test_reply_secure_layer_fields(psk: PskSecurity) -> None:
    outer, _ = split(encode_reply(reply(), psk), "reply")
    assert set(outer) == {"protocol", "security", "reply", "signature", "key_id"}
    expected = hmac.new(SECRET.encode(), outer["reply"].encode(), hashlib.sha256)
    assert outer["signature"] == expected.hexdigest()


def test_unicode_payload_round_trip(psk: PskSecurity) -> None:
    original = request(message={"action": "echo", "data": {"msg": "héllo ☃ 𝄞"}})
    assert decode_request(encode_request(original, psk), psk) == original


# --- tampering: every part of the request is covered ----------------------------------

REQUEST_TAMPERS: dict[str, Any] = {
    "filter": lambda p: p["filter"]["fact"].append(
        {"fact": "country", "operator": "==", "value": "de"}),
    "filter cleared": lambda p: p.update(filter={}),
    "agent": lambda p: p.update(agent="shell"),
    "ttl": lambda p: p.update(ttl=p["ttl"] + 3600),
    "time": lambda p: p.update(time=p["time"] + 1),
    "collective": lambda p: p.update(collective="production"),
    "sender": lambda p: p.update(sender="attacker"),
    "caller": lambda p: p.update(caller="user=root"),
    "id": lambda p: p.update(id="f" * 32),
    "reply_to": lambda p: p.update(reply_to="replies.attacker"),
    "action": lambda p: p["message"].update(action="run"),
    "data": lambda p: p["message"]["data"].update(n=2),
    "process_results": lambda p: p["message"].update(process_results=False),
    "added field": lambda p: p.update(extra=1),
}


@pytest.mark.parametrize("tamper", REQUEST_TAMPERS.values(), ids=REQUEST_TAMPERS.keys())
def test_tampered_request_is_rejected(psk: PskSecurity, tamper: Any) -> None:
    outer, payload = split(encode_request(request(), psk))
    tamper(payload)
    with pytest.raises(SecurityError, match="altered after signing"):
        decode_request(join(outer, payload), psk)


def test_reformatted_payload_is_rejected(psk: PskSecurity) -> None:
    """What is signed is the exact string: even meaning-preserving changes fail."""
    outer, payload = split(encode_request(request(), psk))
    with pytest.raises(SecurityError, match="altered"):
        decode_request(join(outer, json.dumps(payload, indent=1)), psk)


REPLY_TAMPERS: dict[str, Any] = {
    "statuscode": lambda p: p["message"].update(statuscode=1),
    "statusmsg": lambda p: p["message"].update(statusmsg="Aborted"),
    "data": lambda p: p["message"]["data"].update(pong=0),
    "sender": lambda p: p.update(sender="node2"),
    "request": lambda p: p.update(request="1" * 32),
    "agent": lambda p: p.update(agent="other"),
    "time": lambda p: p.update(time=0),
}


@pytest.mark.parametrize("tamper", REPLY_TAMPERS.values(), ids=REPLY_TAMPERS.keys())
def test_tampered_reply_is_rejected(psk: PskSecurity, tamper: Any) -> None:
    outer, payload = split(encode_reply(reply(), psk), "reply")
    tamper(payload)
    with pytest.raises(SecurityError, match="altered after signing"):
        decode_reply(join(outer, payload, "reply"), psk)


def test_signature_from_another_message_is_rejected(psk: PskSecurity) -> None:
    outer_a, _ = split(encode_request(request(), psk))
    _, payload_b = split(encode_request(request(agent="shell"), psk))
    with pytest.raises(SecurityError, match="altered"):
        decode_request(join(outer_a, payload_b), psk)


@pytest.mark.parametrize("position", [0, 31, 63])
def test_flipped_signature_digit_is_rejected(psk: PskSecurity, position: int) -> None:
    outer, payload = split(encode_request(request(), psk))
    sig = outer["signature"]
    outer["signature"] = sig[:position] + ("0" if sig[position] != "0" else "1") + \
        sig[position + 1:]
    with pytest.raises(SecurityError, match="altered"):
        decode_request(join(outer, payload), psk)


# --- keys -----------------------------------------------------------------------------


def test_wrong_key_is_reported_as_such(psk: PskSecurity) -> None:
    data = encode_request(request(), provider("another secret"))
    with pytest.raises(SecurityError, match="different pre-shared key") as info:
        decode_request(data, psk)
    assert key_id_of(b"another secret") in str(info.value)
    assert "plugin.psk" in str(info.value)  # says where this side's key came from


def test_wrong_key_reply(psk: PskSecurity) -> None:
    with pytest.raises(SecurityError, match="different pre-shared key"):
        decode_reply(encode_reply(reply(), provider("another secret")), psk)


def test_forged_key_id_does_not_help(psk: PskSecurity) -> None:
    """Claiming the right key id with a signature made under another key still fails."""
    outer, payload = split(encode_request(request(), provider("another secret")))
    outer["key_id"] = psk.key_id
    with pytest.raises(SecurityError, match="altered"):
        decode_request(join(outer, payload), psk)


def test_secret_surrounding_whitespace_is_ignored() -> None:
    data = encode_request(request(), provider("  spaced secret  "))
    assert decode_request(data, provider("spaced secret")).agent == "rpcutil"


# --- malformed secure layers ----------------------------------------------------------

BAD_FIELDS: dict[str, dict[str, Any]] = {
    "no signature": {"signature": None},
    "signature int": {"signature": 12345},
    "signature list": {"signature": ["a" * 64]},
    "signature dict": {"signature": {"hex": "a" * 64}},
    "signature bool": {"signature": True},
    "signature empty": {"signature": ""},
    "signature short": {"signature": "ab" * 16},
    "signature long": {"signature": "ab" * 33},
    "signature uppercase": {"signature": "AB" * 32},
    "signature non-ascii": {"signature": "é" * 64},
    "signature newline": {"signature": "a" * 64 + "\n"},
    "no key_id": {"key_id": None},
    "key_id int": {"key_id": 7},
    "key_id short": {"key_id": "abc"},
    "key_id non-ascii": {"key_id": "ß" * 16},
}


@pytest.mark.parametrize("change", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_malformed_signature_fields(psk: PskSecurity, change: dict[str, Any]) -> None:
    outer, payload = split(encode_request(request(), psk))
    for key, value in change.items():
        if value is None:
            del outer[key]
        else:
            outer[key] = value
    with pytest.raises(SecurityError, match="psk"):
        decode_request(join(outer, payload), psk)


@pytest.mark.parametrize("change", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_malformed_reply_signature_fields(psk: PskSecurity, change: dict[str, Any]) -> None:
    outer, payload = split(encode_reply(reply(), psk), "reply")
    for key, value in change.items():
        if value is None:
            del outer[key]
        else:
            outer[key] = value
    with pytest.raises(SecurityError, match="psk"):
        decode_reply(join(outer, payload, "reply"), psk)


@pytest.mark.parametrize("data", [
    b"", b"\x00\xff\xfe", b"garbage", b"null", b"[]", b"42", b'"string"', b"{}",
    b'{"protocol": "mcollective:secure:request:1"}',
    b'{"protocol": "mcollective:secure:request:1", "security": "psk", "request": 5}',
    b'{"protocol": "mcollective:secure:request:1", "security": 5, "request": "{}"}',
    b'{"protocol": "mcollective:secure:request:1", "security": "psk", "request": "{"}',
    b'{"protocol": "mcollective:secure:request:1", "security": "psk", "request": "[]"}',
    b'{"protocol": "mcollective:secure:request:1", "security": "psk", "request": "{}"}',
    b'{"protocol": "mcollective:secure:reply:1", "security": "psk", "reply": "{}"}',
    b"[" * 100_000,
], ids=repr)
def test_malformed_envelopes(psk: PskSecurity, data: bytes) -> None:
    with pytest.raises((MessageError, SecurityError)):
        decode_request(data, psk)
    with pytest.raises((MessageError, SecurityError)):
        decode_reply(data, psk)


def test_other_security_provider_is_rejected(psk: PskSecurity) -> None:
    outer, payload = split(encode_request(request(), psk))
    outer["security"] = "jwt"
    with pytest.raises(SecurityError, match="jwt"):
        decode_request(join(outer, payload), psk)


def test_reply_is_not_accepted_as_request(psk: PskSecurity) -> None:
    with pytest.raises(MessageError):
        decode_request(encode_reply(reply(), psk), psk)


def test_lone_surrogate_in_payload_fails_cleanly(psk: PskSecurity) -> None:
    """JSON escapes can smuggle lone surrogates into the decoded payload string."""
    outer, payload = split(encode_request(request(), psk))
    payload["message"]["data"]["n"] = "\ud800"
    # The payload string itself holds the surrogate; the outer layer escapes it.
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    assert "\ud800" in text
    with pytest.raises(SecurityError, match="altered"):
        decode_request(join(outer, text), psk)


# --- caller ids -----------------------------------------------------------------------


def _signed(payload: str, secret: str = SECRET) -> bytes:
    fields = {"signature": hmac.new(secret.encode(), payload.encode(),
                                    hashlib.sha256).hexdigest(),
              "key_id": key_id_of(secret.encode())}
    return wrap_secure("request", payload, "psk", fields)


@pytest.mark.parametrize("caller", [
    "alice", "user=", "=alice", "user=alice smith", "user=alice\n", "user=a;b",
    "user name=alice", "",
])
def test_validly_signed_request_with_bad_caller_is_rejected(psk: PskSecurity,
                                                             caller: str) -> None:
    payload = request(caller=caller).to_json()
    with pytest.raises(SecurityError, match="invalid caller id"):
        decode_request(_signed(payload), psk)


@pytest.mark.parametrize("caller", ["user=alice", "uid=500", "cert=alice.example.com",
                                    "user=first.last-name@example.org", "identity=node_1"])
def test_good_callers_pass(psk: PskSecurity, caller: str) -> None:
    payload = request(caller=caller).to_json()
    assert decode_request(_signed(payload), psk).caller == caller


def test_client_refuses_to_sign_a_bad_caller(psk: PskSecurity) -> None:
    with pytest.raises(SecurityError, match="caller id"):
        encode_request(request(caller="nobody"), psk)
