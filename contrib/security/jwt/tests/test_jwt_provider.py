"""What jwt does beyond the security contract (test_jwt_contract, which covers round
trips, tampering, untrusted and expired credentials and malformed messages): its wire
format, what each failure says, future and foreign tokens, callers claiming to be
someone else, actions outside the allow list, forged and unsigned replies, caching."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from jwt_helpers import (
    ALICE,
    BOB,
    ISSUER,
    NODE1,
    NODE2,
    OTHER_ISSUER,
    alice,
    client_token,
    join,
    node1,
    provider,
    reply,
    request,
    server_token,
    split,
)

from mcollective.errors import SecurityError
from mcollective.message import wrap_secure
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request
from mcollective_security_jwt.provider import JwtSecurity

# --- caller ids and the wire format ----------------------------------------------------


def test_caller_id_comes_from_the_token() -> None:
    assert alice().caller_id() == "jwt=alice"
    other = alice(token=client_token(callerid="okta=alice@example.com"))
    assert other.caller_id() == "okta=alice@example.com"
    assert node1().caller_id() == "identity=node1"


def test_secure_layer_fields() -> None:
    """The wire format is documented: an ed25519 signature over the payload string in
    hex, and the sender's token."""
    client = alice()
    outer, _ = split(encode_request(request(), client))
    assert set(outer) == {"protocol", "security", "request", "signature", "token"}
    assert outer["security"] == "jwt"
    assert outer["token"] == client.token.raw
    assert len(outer["signature"]) == 128
    ALICE.public_key().verify(bytes.fromhex(outer["signature"]), outer["request"].encode())


def test_reply_secure_layer_fields() -> None:
    server = node1()
    outer, _ = split(encode_reply(reply(), server), "reply")
    assert set(outer) == {"protocol", "security", "reply", "signature", "token"}
    assert outer["token"] == server.token.raw
    NODE1.public_key().verify(bytes.fromhex(outer["signature"]), outer["reply"].encode())


def test_secure_layer_matches_the_published_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from pathlib import Path

    schemas = Path(__file__).resolve().parents[4] / "docs" / "schemas"
    if not schemas.is_dir():
        pytest.skip("docs/schemas is not part of this checkout")
    for kind, data in (("request", encode_request(request(), alice())),
                       ("reply", encode_reply(reply(), node1()))):
        schema = json.loads((schemas / f"secure_{kind}.json").read_text())
        jsonschema.validate(json.loads(data), schema)


# --- allow lists ----------------------------------------------------------------------


def test_discovery_is_always_allowed() -> None:
    nothing = alice(token=client_token(agents=()))
    req = request(agent="discovery", message={"action": "ping", "data": {}})
    assert decode_request(encode_request(req, nothing), node1()).agent == "discovery"


def test_wildcard_token_allows_everything() -> None:
    root = alice(token=client_token(agents=("*",)))
    req = request(agent="shell", message={"action": "run", "data": {"command": "id"}})
    assert decode_request(encode_request(req, root), node1()).agent == "shell"


# --- signatures and tokens ------------------------------------------------------------


def test_forged_signature_is_rejected() -> None:
    """Alice's token with a signature made by someone else's key."""
    outer, payload = split(encode_request(request(), alice()))
    outer["signature"] = BOB.sign(outer["request"].encode()).hex()
    with pytest.raises(SecurityError, match="signed by a key other than"):
        decode_request(join(outer, payload), node1())


def _send_with(token: str, key: Any = ALICE, **overrides: Any) -> bytes:
    """A request signed exactly as a (possibly modified) client would, bypassing the
    client-side checks."""
    payload = request(**overrides).to_json()
    fields = {"signature": key.sign(payload.encode()).hex(), "token": token}
    return wrap_secure("request", payload, "jwt", fields)


def test_expired_token_is_rejected() -> None:
    token = client_token(now=time.time() - 7200)
    with pytest.raises(SecurityError, match=r"expired at .*mco security issue client"):
        decode_request(_send_with(token), node1())


def test_not_yet_valid_token_is_rejected() -> None:
    token = client_token(now=time.time() + 600)
    with pytest.raises(SecurityError, match="not valid before"):
        decode_request(_send_with(token), node1())


def test_clock_skew_applies() -> None:
    token = client_token(now=time.time() - 3600 - 20)  # expired 20 seconds ago
    assert decode_request(_send_with(token), node1(clock_skew=30)).agent == "rpcutil"
    with pytest.raises(SecurityError, match="expired"):
        decode_request(_send_with(token), node1(clock_skew=5))


def test_token_from_another_issuer_is_rejected() -> None:
    token = client_token(issuer=OTHER_ISSUER)
    with pytest.raises(SecurityError, match="not a trusted issuer"):
        decode_request(_send_with(token), node1())


def test_token_of_another_issuer_accepted_when_trusted() -> None:
    token = client_token(issuer=OTHER_ISSUER)
    server = node1(issuers=(ISSUER, OTHER_ISSUER))
    assert decode_request(_send_with(token), server).caller == "jwt=alice"


def test_caller_claiming_another_caller_id_is_rejected() -> None:
    """Bob signs correctly with his own key and token but claims to be Alice."""
    bob = client_token(BOB, callerid="jwt=bob")
    with pytest.raises(SecurityError, match=r"claims caller 'jwt=alice'.*'jwt=bob'"):
        decode_request(_send_with(bob, BOB, caller="jwt=alice"), node1())


def test_stolen_token_without_the_private_key_is_useless() -> None:
    """Mallory has Alice's token (it is not a secret) but not Alice's key."""
    with pytest.raises(SecurityError, match="signed by a key other than"):
        decode_request(_send_with(client_token(), BOB), node1())


def test_action_outside_the_allow_list_is_rejected() -> None:
    data = _send_with(client_token(), message={"action": "inventory", "data": {}},
                      agent="package")
    with pytest.raises(SecurityError, match=r"may not call package\.inventory") as info:
        decode_request(data, node1())
    assert "rpcutil.*, package.status" in str(info.value)


def test_request_without_action_needs_a_wildcard() -> None:
    data = _send_with(client_token(), agent="package", message={"data": {}})
    with pytest.raises(SecurityError, match=r"package\.\(no action\)"):
        decode_request(data, node1())


def test_server_token_cannot_make_rpc_requests() -> None:
    data = _send_with(server_token(), NODE1, caller="identity=node1", sender="node1")
    with pytest.raises(SecurityError, match="server tokens may only send registration"):
        decode_request(data, node1())


def test_server_token_sends_registration_as_itself() -> None:
    """The daemon signs its registration messages with its server token."""
    reg = request(agent="registration", caller="identity=node1", sender="node1",
                  message={"action": "register", "data": {}, "process_results": False})
    data = encode_request(reg, node1())
    assert decode_request(data, node1()).agent == "registration"
    # ...but not as another node.
    other = _send_with(server_token(), NODE1, agent="registration", caller="identity=node2",
                       sender="node2")
    with pytest.raises(SecurityError):
        decode_request(other, node1())
    impostor = _send_with(server_token(), NODE1, agent="registration",
                          caller="identity=node1", sender="node2")
    with pytest.raises(SecurityError, match="only send registration requests as itself"):
        decode_request(impostor, node1())
    elsewhere = _send_with(server_token(), NODE1, agent="registration",
                           caller="identity=node1", sender="node1", collective="eu")
    with pytest.raises(SecurityError, match="collective 'eu'"):
        decode_request(elsewhere, node1())


# --- the client refuses early ---------------------------------------------------------


def test_client_refuses_a_disallowed_action() -> None:
    with pytest.raises(SecurityError, match=r"does not allow shell\.run .*--agents include "
                                            r"'shell\.run'"):
        encode_request(request(agent="shell", message={"action": "run"}), alice())


def test_client_refuses_another_caller_id() -> None:
    with pytest.raises(SecurityError, match="not the caller id"):
        encode_request(request(caller="jwt=root"), alice())


def test_client_refuses_with_an_expired_token() -> None:
    expired = alice(token=client_token(now=time.time() - 7200))
    with pytest.raises(SecurityError, match="mco security issue client"):
        encode_request(request(), expired)


def test_server_refuses_to_sign_rpc_requests() -> None:
    with pytest.raises(SecurityError, match="only send registration"):
        encode_request(request(caller="identity=node1"), node1())


# --- replies --------------------------------------------------------------------------


def test_reply_forged_with_a_client_token_is_dropped() -> None:
    """A client (not a server) signs a reply with its own valid key and token."""
    forged = reply(sender="node1")
    payload = forged.to_json()
    fields = {"signature": ALICE.sign(payload.encode()).hex(), "token": client_token()}
    with pytest.raises(SecurityError, match="replies must be signed with a server token"):
        decode_reply(wrap_secure("reply", payload, "jwt", fields), alice())


def test_reply_in_the_name_of_another_node_is_rejected() -> None:
    """node2 holds a valid server token but answers as node1."""
    node2 = provider("server", NODE2, server_token(NODE2, identity="node2"))
    with pytest.raises(SecurityError, match="only sign its own replies"):
        decode_reply(encode_reply(reply(sender="node1"), node2), alice())


def test_server_token_from_another_issuer_is_rejected() -> None:
    rogue = node1(token=server_token(issuer=OTHER_ISSUER))
    with pytest.raises(SecurityError, match="not a trusted issuer"):
        decode_reply(encode_reply(reply(), rogue), alice())


def test_reply_with_expired_server_token_is_rejected(caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    stale = node1(token=server_token(now=time.time() - 7200))
    with pytest.raises(SecurityError, match="expired"):
        decode_reply(encode_reply(reply(), stale), alice())
    assert "clients will reject this node's replies" in caplog.text  # said once, by the node
    caplog.clear()
    encode_reply(reply(), stale)
    assert caplog.text == ""


def test_unsigned_replies() -> None:
    """plugin.jwt.sign_replies = false: a hash instead of a signature, accepted only by
    clients configured the same way."""
    quiet = node1(sign_replies=False)
    data = encode_reply(reply(), quiet)
    outer, _ = split(data, "reply")
    assert set(outer) == {"protocol", "security", "reply", "hash"}
    assert outer["hash"] == hashlib.sha256(outer["reply"].encode()).hexdigest()
    assert decode_reply(data, alice(sign_replies=False)).sender == "node1"
    with pytest.raises(SecurityError, match="sign_replies = false"):
        decode_reply(data, alice())


def test_unsigned_reply_hash_must_match() -> None:
    outer, payload = split(encode_reply(reply(), node1(sign_replies=False)), "reply")
    payload["message"]["statuscode"] = 1
    with pytest.raises(SecurityError, match="does not match its hash"):
        decode_reply(join(outer, payload, "reply"), alice(sign_replies=False))
    outer["hash"] = "nothex"
    with pytest.raises(SecurityError, match="neither a jwt signature"):
        decode_reply(join(outer, payload, "reply"), alice(sign_replies=False))


def test_signed_replies_are_still_verified_when_not_required() -> None:
    """Not requiring signatures never means ignoring a bad one."""
    outer, payload = split(encode_reply(reply(), node1()), "reply")
    payload["message"]["statuscode"] = 1
    with pytest.raises(SecurityError, match="altered"):
        decode_reply(join(outer, payload, "reply"), alice(sign_replies=False))


# --- caching --------------------------------------------------------------------------


def test_verified_tokens_are_cached_but_times_are_rechecked() -> None:
    now = [time.time()]
    server = node1(clock=lambda: now[0], clock_skew=0)
    data = encode_request(request(), alice())
    decode_request(data, server)
    decode_request(data, server)
    info = server._verify_token.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses) == (1, 1)
    now[0] += 3601
    with pytest.raises(SecurityError, match="expired"):
        decode_request(data, server)


def test_rejected_tokens_are_not_cached() -> None:
    server = node1()
    bad = _send_with(client_token(issuer=OTHER_ISSUER))
    for _ in range(3):
        with pytest.raises(SecurityError):
            decode_request(bad, server)
    assert server._verify_token.cache_info().currsize == 0  # type: ignore[attr-defined]


def test_provider_is_a_security_provider() -> None:
    assert isinstance(alice(), JwtSecurity)
    assert alice().name == "jwt"
