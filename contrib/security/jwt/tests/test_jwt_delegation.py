"""Delegated signing (a console signing for its users) and identity proofs: what nodes
accept, and every way a delegation or a proof can be wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from jwt_helpers import (
    ALICE,
    BOB,
    ISSUER,
    OTHER_ISSUER,
    alice,
    client_token,
    join,
    node1,
    provider,
    request,
    split,
)

from mcollective.errors import SecurityError
from mcollective.security import decode_request, encode_request
from mcollective_security_jwt import keys, tokens

CONSOLE = keys.generate()


def console(*, delegator: bool = True, issuer: object = ISSUER):
    token = tokens.issue_client(issuer, callerid="jwt=console", agents=["*"],  # type: ignore[arg-type]
                                public_key=keys.public_hex(CONSOLE),
                                validity=timedelta(hours=1), delegator=delegator)
    return provider("client", CONSOLE, token)


def test_a_delegated_request_is_accepted_as_the_user() -> None:
    signer = console().delegate("jwt=alice", client_token())
    assert signer.caller_id() == "jwt=alice"
    body = encode_request(request(agent="rpcutil", message={"action": "ping", "data": {}}),
                          signer)
    outer, _ = split(body)
    assert set(outer) >= {"signature", "token", "signer"}
    assert tokens.parse(outer["signer"]).callerid == "jwt=console"
    assert tokens.parse(outer["token"]).callerid == "jwt=alice"
    # Signed with the console's key, not alice's.
    CONSOLE.public_key().verify(bytes.fromhex(outer["signature"]), outer["request"].encode())
    decoded = decode_request(body, node1())
    assert decoded.caller == "jwt=alice"


def test_the_users_allow_list_applies_not_the_consoles() -> None:
    signer = console().delegate("jwt=alice", client_token(agents=("rpcutil.ping",)))
    with pytest.raises(SecurityError, match=r"does not allow shell\.run"):
        encode_request(request(agent="shell", message={"action": "run", "data": {}}),
                       signer)
    # A forged client that skips its own check is refused by the node.
    honest = console().delegate("jwt=alice", client_token(agents=("*",)))
    body = encode_request(request(agent="shell", message={"action": "run", "data": {}}),
                          honest)
    outer, inner = split(body)
    outer["token"] = client_token(agents=("rpcutil.ping",))
    with pytest.raises(SecurityError, match=r"may not call shell\.run"):
        decode_request(join(outer, inner), node1())


def test_only_a_delegator_token_may_delegate() -> None:
    with pytest.raises(SecurityError, match="not a delegator token"):
        console(delegator=False).delegate("jwt=alice", client_token())
    with pytest.raises(SecurityError, match="not a delegator token"):
        alice().delegate("jwt=bob", client_token(BOB, callerid="jwt=bob"))
    # A node refuses a 'signer' that is not a delegator, even correctly signed.
    body = encode_request(request(), console().delegate("jwt=alice", client_token()))
    outer, inner = split(body)
    plain = console(delegator=False)
    outer["signer"] = plain.token.raw
    with pytest.raises(SecurityError, match="not a delegator token"):
        decode_request(join(outer, inner), node1())


def test_the_user_token_must_be_genuine_current_and_match_the_caller() -> None:
    signer = console()
    with pytest.raises(SecurityError, match="needs jwt=alice's own client token"):
        signer.delegate("jwt=alice", None)
    with pytest.raises(SecurityError, match="belongs to jwt=bob"):
        signer.delegate("jwt=alice", client_token(BOB, callerid="jwt=bob"))
    with pytest.raises(SecurityError, match="not a trusted issuer"):
        signer.delegate("jwt=alice", client_token(issuer=OTHER_ISSUER))
    with pytest.raises(SecurityError, match="expired"):
        signer.delegate("jwt=alice", client_token(now=0))
    # On the node: a caller other than the token's is refused.
    body = encode_request(request(), signer.delegate("jwt=alice", client_token()))
    outer, inner = split(body)
    inner["caller"] = "jwt=bob"
    with pytest.raises(SecurityError, match="belongs to 'jwt=alice'"):
        decode_request(join(outer, inner), node1())


def test_a_signature_by_anyone_but_the_signer_is_refused() -> None:
    body = encode_request(request(), console().delegate("jwt=alice", client_token()))
    outer, inner = split(body)
    outer["signature"] = ALICE.sign(outer["request"].encode()).hex()
    with pytest.raises(SecurityError, match="does not match its signature"):
        decode_request(join(outer, inner), node1())


def test_identity_proofs() -> None:
    user = alice()
    proof = user.identity_proof("nonce-123")
    proven = console().verify_identity_proof(proof, "nonce-123")
    assert proven.caller == "jwt=alice"
    assert proven.credential == user.token.raw
    assert proven.expires == user.token.expires
    with pytest.raises(SecurityError, match="does not answer this challenge"):
        console().verify_identity_proof(proof, "another nonce")
    with pytest.raises(SecurityError, match="not the line"):
        console().verify_identity_proof("garbage", "nonce-123")
    with pytest.raises(SecurityError, match="not the line"):
        console().verify_identity_proof(user.token.raw, "nonce-123")
    # Somebody else's token with my signature proves nothing.
    mine = user.identity_proof("n")
    bob_token = client_token(BOB, callerid="jwt=bob")
    forged = bob_token + "." + mine.rpartition(".")[2]
    with pytest.raises(SecurityError, match="does not answer"):
        console().verify_identity_proof(forged, "n")
    with pytest.raises(SecurityError, match="only a client token"):
        node1().identity_proof("n")


def test_a_proof_is_never_a_request_signature() -> None:
    """The context prefix: a proof signature over a challenge that looks like a request
    cannot be replayed as a signed request."""
    body = encode_request(request(), alice())
    outer, inner = split(body)
    proof = alice().identity_proof(outer["request"][:200])
    outer["signature"] = proof.rpartition(".")[2]
    with pytest.raises(SecurityError):
        decode_request(join(outer, inner), node1())


def test_delegator_claim_is_parsed_and_checked() -> None:
    token = tokens.parse(console().token.raw)
    assert token.delegator is True
    assert tokens.parse(client_token()).delegator is False
    claims = dict(token.claims, delegator="yes")
    import jwt as pyjwt

    bad = pyjwt.encode(claims, ISSUER, algorithm="EdDSA")
    with pytest.raises(tokens.MalformedToken, match="'delegator' is not a boolean"):
        tokens.parse(bad)
