"""Issuing, parsing and verifying tokens; the allow list; durations."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from jwt_helpers import ALICE, ISSUER, NODE1, OTHER_ISSUER, client_token, server_token

from mcollective_security_jwt import allowlist, keys, tokens
from mcollective_security_jwt.timefmt import parse_duration, relative, span

TRUSTED = tokens.Issuers([ISSUER.public_key()])


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _claims(raw: str) -> dict[str, Any]:
    return jwt.decode(raw, options={"verify_signature": False})


def _resign(claims: dict[str, Any], key: Any = ISSUER) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA")


# --- issuing --------------------------------------------------------------------------


def test_client_token_claims() -> None:
    before = int(time.time())
    token = TRUSTED.verify(client_token())
    claims = _claims(token.raw)
    assert set(claims) == {"purpose", "public_key", "iss", "jti", "iat", "nbf", "exp",
                           "callerid", "agents"}
    assert claims["purpose"] == "client" == token.purpose
    assert claims["callerid"] == "jwt=alice" == token.callerid
    assert claims["agents"] == ["rpcutil.*", "package.status"]
    assert claims["public_key"] == keys.public_hex(ALICE) == token.public_key_hex
    assert claims["iss"] == "I-" + keys.public_hex(ISSUER) == token.issuer
    assert len(claims["jti"]) == 32
    assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
    assert claims["exp"] - claims["nbf"] == 3600
    assert jwt.get_unverified_header(token.raw) == {"alg": "EdDSA", "typ": "JWT"}
    assert token.subject == "jwt=alice"


def test_server_token_claims() -> None:
    token = TRUSTED.verify(server_token(collectives=("mcollective", "eu")))
    claims = _claims(token.raw)
    assert set(claims) == {"purpose", "public_key", "iss", "jti", "iat", "nbf", "exp",
                           "identity", "collectives"}
    assert token.purpose == "server" and token.identity == "node1"
    assert token.collectives == ("mcollective", "eu")
    assert token.public_key_hex == keys.public_hex(NODE1)
    assert not token.allows("rpcutil", "ping")  # server tokens allow no RPC


def test_bare_caller_name_gets_the_jwt_kind() -> None:
    assert tokens.parse(client_token(callerid="alice")).callerid == "jwt=alice"
    assert tokens.parse(client_token(callerid="okta=rip@example.com")).callerid == \
        "okta=rip@example.com"


def test_every_token_has_its_own_id() -> None:
    assert tokens.parse(client_token()).jti != tokens.parse(client_token()).jti


@pytest.mark.parametrize("kwargs", [
    {"callerid": "jwt=alice smith"}, {"callerid": "=alice"}, {"callerid": "jwt="},
    {"callerid": "jwt=alice\n"}, {"agents": ("rpcutil",)}, {"agents": ("rpcutil.ping.x",)},
    {"agents": ("*.ping",)}, {"agents": ("",)}, {"validity": timedelta(0)},
])
def test_issue_client_refuses_bad_input(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        client_token(**kwargs)


@pytest.mark.parametrize("kwargs", [
    {"identity": "node 1"}, {"identity": "node1\n"}, {"collectives": ()},
    {"collectives": ("bad collective",)},
])
def test_issue_server_refuses_bad_input(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        server_token(**kwargs)


def test_issue_refuses_bad_public_key() -> None:
    with pytest.raises(ValueError, match="64 hex"):
        tokens.issue_client(ISSUER, callerid="jwt=a", agents=["*"], public_key="abc",
                            validity=timedelta(hours=1))


# --- verifying ------------------------------------------------------------------------


def test_token_from_another_issuer() -> None:
    raw = client_token(issuer=OTHER_ISSUER)
    with pytest.raises(tokens.WrongIssuer, match="not a trusted issuer") as info:
        TRUSTED.verify(raw)
    assert keys.public_hex(OTHER_ISSUER) in str(info.value)
    assert "plugin.jwt.issuer_public_key" in str(info.value)


def test_several_issuers_during_rotation() -> None:
    both = tokens.Issuers([OTHER_ISSUER.public_key(), ISSUER.public_key()])
    assert both.verify(client_token()).issuer == "I-" + keys.public_hex(ISSUER)
    assert both.verify(client_token(issuer=OTHER_ISSUER)).callerid == "jwt=alice"


def test_claiming_a_trusted_issuer_without_its_key_is_forgery() -> None:
    claims = _claims(client_token())
    forged = _resign(claims, OTHER_ISSUER)  # iss still names the trusted issuer
    with pytest.raises(tokens.ForgedToken, match="forged or altered"):
        TRUSTED.verify(forged)


def test_altered_claims_break_the_issuer_signature() -> None:
    header, payload, signature = client_token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["agents"] = ["*"]
    with pytest.raises(tokens.ForgedToken):
        TRUSTED.verify(f"{header}.{_b64(claims)}.{signature}")


@pytest.mark.parametrize("header", [
    {"alg": "none", "typ": "JWT"}, {"alg": "HS256", "typ": "JWT"}, {"alg": "RS256"},
    {"typ": "JWT"},
])
def test_only_eddsa_is_accepted(header: dict[str, Any]) -> None:
    claims = _claims(client_token())
    raw = f"{_b64(header)}.{_b64(claims)}."
    with pytest.raises(tokens.MalformedToken, match="only EdDSA"):
        TRUSTED.verify(raw)


def test_hmac_with_the_issuer_public_key_is_refused() -> None:
    """The classic algorithm-confusion attack: HS256 keyed with the public key."""
    claims = _claims(client_token())
    secret = keys.public_hex(ISSUER).encode()
    raw = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}."
    import hashlib
    import hmac

    sig = hmac.new(secret, raw[:-1].encode(), hashlib.sha256).digest()
    raw += base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    with pytest.raises(tokens.MalformedToken, match="only EdDSA"):
        TRUSTED.verify(raw)


MALFORMED_CLAIMS: dict[str, Any] = {
    "no purpose": lambda c: c.pop("purpose"),
    "bad purpose": lambda c: c.update(purpose="admin"),
    "no public key": lambda c: c.pop("public_key"),
    "short public key": lambda c: c.update(public_key="ab" * 16),
    "no iss": lambda c: c.pop("iss"),
    "bad iss": lambda c: c.update(iss="someone"),
    "no jti": lambda c: c.pop("jti"),
    "empty jti": lambda c: c.update(jti=""),
    "no exp": lambda c: c.pop("exp"),
    "string exp": lambda c: c.update(exp="tomorrow"),
    "bool nbf": lambda c: c.update(nbf=True),
    "float iat": lambda c: c.update(iat=1.5),
    "exp before nbf": lambda c: c.update(exp=c["nbf"] - 1),
    "no callerid": lambda c: c.pop("callerid"),
    "bad callerid": lambda c: c.update(callerid="alice"),
    "no agents": lambda c: c.pop("agents"),
    "agents not a list": lambda c: c.update(agents="*"),
    "agents with a number": lambda c: c.update(agents=[1]),
    "bad agents entry": lambda c: c.update(agents=["rpcutil"]),
}


@pytest.mark.parametrize("change", MALFORMED_CLAIMS.values(), ids=MALFORMED_CLAIMS.keys())
def test_malformed_claims_signed_by_the_issuer(change: Any) -> None:
    claims = _claims(client_token())
    change(claims)
    with pytest.raises(tokens.MalformedToken):
        TRUSTED.verify(_resign(claims))


@pytest.mark.parametrize("change", [
    lambda c: c.pop("identity"), lambda c: c.update(identity="two words"),
    lambda c: c.pop("collectives"), lambda c: c.update(collectives=[]),
    lambda c: c.update(collectives=["ok", "not ok"]),
])
def test_malformed_server_claims(change: Any) -> None:
    claims = _claims(server_token())
    change(claims)
    with pytest.raises(tokens.MalformedToken):
        TRUSTED.verify(_resign(claims))


@pytest.mark.parametrize("raw", [
    None, 42, ["a.b.c"], "", "   ", "not a token", "a.b.c", "a.b", "....",
    "eyJhbGciOiJFZERTQSJ9.e30.", "x" * (tokens.MAX_TOKEN_LENGTH + 1), "\ud800.a.b",
    f"{_b64([1, 2])}.{_b64({})}.", f"{_b64({'alg': 'EdDSA'})}.{_b64([1])}.",
])
def test_not_a_token(raw: Any) -> None:
    with pytest.raises(tokens.MalformedToken):
        TRUSTED.verify(raw)


# --- validity window ------------------------------------------------------------------


def test_expired_token_says_when_and_what_to_do() -> None:
    token = tokens.parse(client_token(now=time.time() - 7200))
    with pytest.raises(tokens.TokenExpired) as info:
        token.check_time(time.time())
    message = str(info.value)
    assert "expired at" in message and "ago" in message
    assert "mco security issue client" in message


def test_not_yet_valid_token() -> None:
    token = tokens.parse(server_token(now=time.time() + 3600))
    with pytest.raises(tokens.TokenNotYetValid, match="not valid before"):
        token.check_time(time.time())


def test_clock_skew_is_tolerated_both_ways() -> None:
    now = time.time()
    token = tokens.parse(client_token(now=now, validity=timedelta(seconds=100)))
    token.check_time(token.not_before - 10, skew=30)
    token.check_time(token.expires + 10, skew=30)
    with pytest.raises(tokens.TokenNotYetValid):
        token.check_time(token.not_before - 31, skew=30)
    with pytest.raises(tokens.TokenExpired):
        token.check_time(token.expires + 31, skew=30)


# --- allow list -----------------------------------------------------------------------


@pytest.mark.parametrize(("entries", "agent", "action", "allowed"), [
    (("*",), "shell", "run", True),
    (("rpcutil.*",), "rpcutil", "inventory", True),
    (("rpcutil.*",), "rpcutil", None, True),
    (("rpcutil.*",), "rpcutilx", "ping", False),
    (("package.status",), "package", "status", True),
    (("package.status",), "package", "install", False),
    (("package.status",), "package", None, False),
    (("package.status",), "packages", "status", False),
    ((), "discovery", "ping", True),
    ((), "rpcutil", "ping", False),
    (("rpcutil.ping",), "discovery", "anything", True),
])
def test_allow_list(entries: tuple[str, ...], agent: str, action: str | None,
                    allowed: bool) -> None:
    assert allowlist.allows(entries, agent, action) is allowed


def test_allow_list_parsing() -> None:
    assert allowlist.parse(" rpcutil.* , package.status,rpcutil.*") == \
        ("rpcutil.*", "package.status")
    with pytest.raises(ValueError, match=r"did you mean 'rpcutil\.\*'"):
        allowlist.parse("rpcutil")
    assert allowlist.describe(()) == "nothing but discovery"


# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("45m", 2700), ("1h", 3600), ("1h30m", 5400), ("7d", 604800),
    ("2w", 1209600), ("1y", 31536000), (" 1H ", 3600),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0", "0h", "1x", "h", "1h 2", "-1h", "1.5h", "m30"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_human_times() -> None:
    assert span(42) == "42s" and span(600) == "10m" and span(3 * 3600 + 300) == "3h5m"
    assert span(10 * 86400) == "10d"
    assert relative(1000, 1060).endswith("1m ago") or relative(1000, 1060).endswith("60s ago")
    assert relative(2000, 1000).startswith("1970-01-01 00:33:20 UTC, in ")
