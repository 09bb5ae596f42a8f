"""The security contract (``mcollective.testing.security``) on jwt: round trips, every
kind of tampering, untrusted and expired credentials, and the property that whatever
arrives decodes or raises MessageError or SecurityError, never another exception. What
only jwt does (tokens, allow lists, unsigned replies) is tested in test_jwt_provider."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt_helpers import (
    BOB,
    NODE2,
    OTHER_ISSUER,
    alice,
    client_token,
    join,
    node1,
    provider,
    request,
    server_token,
    split,
)

from mcollective.errors import SecurityError
from mcollective.security import decode_request, encode_request
from mcollective.testing.security import SecurityContract, SecurityFactory, json_values
from mcollective_security_jwt.provider import JwtSecurity


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


# Token-shaped strings: three base64url segments of arbitrary JSON.
jwtish = st.builds(lambda h, c, s: f"{_segment(h)}.{_segment(c)}.{s}",
                   json_values, json_values, st.text(alphabet="AZaz09-_", max_size=90))


class JwtFactory(SecurityFactory):
    altered = "altered after signing"
    malformed = "jwt|token"
    signature_field = "signature"
    extra_fields = ("hash",)
    whitespace_tolerant = ("token",)

    def client(self) -> JwtSecurity:
        return alice()

    def server(self) -> JwtSecurity:
        return node1()

    def foreign_clients(self) -> Mapping[str, JwtSecurity]:
        return {"a token from an untrusted issuer":
                alice(token=client_token(issuer=OTHER_ISSUER)),
                "alice's token but another key": alice(key=BOB)}

    def foreign_servers(self) -> Mapping[str, JwtSecurity]:
        return {"a token from an untrusted issuer":
                node1(token=server_token(issuer=OTHER_ISSUER)),
                "node1's token but another key": node1(key=NODE2),
                "node2's credentials": provider("server", NODE2,
                                                server_token(NODE2, identity="node2")),
                "a client's credentials": alice()}

    def expired_client(self) -> JwtSecurity:
        # Its clock is two hours slow, so it still signs with the token it holds.
        then = time.time() - 7200
        return alice(token=client_token(now=then), clock=lambda: then)

    def expired_server(self) -> JwtSecurity:
        return node1(token=server_token(now=time.time() - 7200))

    def field_values(self, field: str, real: Any) -> st.SearchStrategy[Any]:
        if field == "token":
            return json_values | jwtish | st.just(client_token())
        return super().field_values(field, real)


class TestJwtContract(SecurityContract):
    @pytest.fixture
    def security_factory(self) -> SecurityFactory:
        return JwtFactory()


# --- tokens in a real request -----------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(header=json_values, claims=json_values)
def test_arbitrary_token_contents(header: Any, claims: Any) -> None:
    outer, payload = split(encode_request(request(), alice()))
    outer["token"] = f"{_segment(header)}.{_segment(claims)}.{outer['signature'][:86]}"
    with pytest.raises(SecurityError):
        decode_request(join(outer, payload), node1())


def test_token_without_its_signature_segment_is_rejected() -> None:
    outer, payload = split(encode_request(request(), alice()))
    outer["token"] = outer["token"].rpartition(".")[0]
    with pytest.raises(SecurityError, match="token"):
        decode_request(join(outer, payload), node1())
