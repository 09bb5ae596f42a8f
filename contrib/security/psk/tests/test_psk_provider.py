"""What psk does beyond the security contract (test_psk_contract, which covers round
trips, tampering, foreign keys and malformed messages): its wire format, telling a wrong
key from tampering, and caller ids."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from psk_helpers import SECRET, join, provider, reply, request, split

from mcollective.errors import SecurityError
from mcollective.message import wrap_secure
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request
from mcollective_security_psk.keys import key_id_of
from mcollective_security_psk.provider import PskSecurity


@pytest.fixture
def psk() -> PskSecurity:
    return provider()


# --- the wire format ----------------------------------------------------------------


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


# --- keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["request", "reply"])
def test_wrong_key_is_reported_as_such(psk: PskSecurity, kind: str) -> None:
    other = provider("another secret")
    data = (encode_request(request(), other) if kind == "request"
            else encode_reply(reply(), other))
    decode = decode_request if kind == "request" else decode_reply
    with pytest.raises(SecurityError, match="different pre-shared key") as info:
        decode(data, psk)
    assert key_id_of(b"another secret") in str(info.value)
    assert "plugin.psk" in str(info.value)  # says where this side's key came from


def test_forged_key_id_does_not_help(psk: PskSecurity) -> None:
    """Claiming the right key id with a signature made under another key still fails."""
    outer, payload = split(encode_request(request(), provider("another secret")))
    outer["key_id"] = psk.key_id
    with pytest.raises(SecurityError, match="altered"):
        decode_request(join(outer, payload), psk)


def test_secret_surrounding_whitespace_is_ignored() -> None:
    data = encode_request(request(), provider("  spaced secret  "))
    assert decode_request(data, provider("spaced secret")).agent == "rpcutil"


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


def test_delegate_signs_as_another_caller_with_the_same_key() -> None:
    """A console holding the key signs each user's requests in that user's name."""
    from mcollective.message import Request, empty_filter
    from mcollective_security_psk.keys import SharedKey

    console = PskSecurity(SharedKey(b"k" * 32, "test"), "user=console")
    alice = console.delegate("user=alice")
    assert alice.caller_id() == "user=alice"
    request = Request(agent="rpcutil", collective="mcollective", sender="web",
                      caller="user=alice", message={"action": "ping", "data": {}},
                      filter=empty_filter())
    assert decode_request(encode_request(request, alice), console).caller == "user=alice"
    with pytest.raises(SecurityError, match="does not match"):
        console.delegate("alice with spaces")
