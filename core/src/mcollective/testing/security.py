"""Security-plugin test support: realistic messages, taking the secure layer apart and
back together to tamper with a signed message, and the contract every security plugin
passes (DESIGN §9).

A security plugin's test suite subclasses :class:`SecurityContract` and overrides the
``security_factory`` fixture to return a :class:`SecurityFactory` that makes configured
providers: a client and a server that trust each other, and ones they must not trust::

    from mcollective.testing.security import SecurityContract, SecurityFactory

    class MineFactory(SecurityFactory):
        altered = "altered after signing"

        def client(self):
            return MineSecurity(key=KEY, role="client")

        def server(self):
            return MineSecurity(key=KEY, role="server")

        def foreign_clients(self):
            return {"another key": MineSecurity(key=OTHER_KEY, role="client")}

        def foreign_servers(self):
            return {"another key": MineSecurity(key=OTHER_KEY, role="server")}

    class TestMineContract(SecurityContract):
        @pytest.fixture
        def security_factory(self):
            return MineFactory()

What is checked is what :mod:`mcollective.security` promises, through the same
``encode_*``/``decode_*`` functions the daemon and clients use:

* a request a client signs verifies on a server and decodes to the same request, and a
  reply a server signs verifies on a client (unicode and nested data included);
* changing anything after signing is rejected with ``SecurityError``: any field of the
  request or reply (filter, agent, ttl, time... even re-formatting the same JSON), any
  byte of the encoded message, any of the plugin's own secure-layer fields, the plugin
  the secure layer names;
* a message made with credentials the receiver does not trust (another key, issuer or
  identity) is rejected with ``SecurityError``; so is one made with expired credentials,
  where the plugin's credentials expire;
* whatever arrives (random bytes, truncated or garbage messages, random JSON, random
  secure layers, random values in a real message) decoding raises ``MessageError`` or
  ``SecurityError``, never anything else: the daemon counts those as malformed or
  unvalidated and drops the message, where any other exception would be a crash; and a
  message is only ever accepted as exactly what was signed.

Not checked here, because it is not a provider's job: the TTL window and the replay
cache. The request's ``time`` and ``ttl`` are signed (so they cannot be changed, which
*is* checked); the daemon rejects stale and replayed requests itself, whatever the
security plugin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mcollective.errors import MessageError, SecurityError
from mcollective.message import (
    SECURE_REPLY_PROTOCOL,
    SECURE_REQUEST_PROTOCOL,
    Reply,
    Request,
)
from mcollective.security import (
    CALLER_RE,
    SecurityProvider,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)

Kind = Literal["request", "reply"]
KINDS: tuple[Kind, ...] = ("request", "reply")
#: What decoding may raise, whatever arrives.
ALLOWED = (MessageError, SecurityError)
#: The secure layer's own keys; everything else in it belongs to the plugin.
CORE_FIELDS = frozenset({"protocol", "security", "request", "reply"})

# --- messages ---------------------------------------------------------------------------


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


# --- strategies -------------------------------------------------------------------------

#: Any JSON value. Integers are unbounded: a ``time`` too large for a float must be a
#: MessageError, not an OverflowError.
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


def hex_text(max_size: int, min_size: int = 0, upper: bool = True
             ) -> st.SearchStrategy[str]:
    """Hex digits (lowercase, or mixed with ``upper``): what signatures look like."""
    alphabet = "0123456789abcdef" + ("ABCDEF" if upper else "")
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


# --- the factory a plugin provides ----------------------------------------------------------


class SecurityFactory:
    """Makes providers of one security plugin.

    Override :meth:`client`, :meth:`server`, :meth:`foreign_clients` and
    :meth:`foreign_servers`; where the plugin's credentials expire, also
    :meth:`expired_client` and :meth:`expired_server`.
    """

    #: A pattern every ``SecurityError`` matches when the signed payload was changed (a
    #: plugin says *why* it rejects); ``None`` accepts any message.
    altered: str | None = None
    #: A pattern every ``SecurityError`` matches when one of the plugin's secure-layer
    #: fields is missing or malformed; ``None`` accepts any message.
    malformed: str | None = None
    #: The secure-layer field holding the signature over the payload: changing one of its
    #: characters must be reported as :attr:`altered`.
    signature_field: str | None = None
    #: Secure-layer fields whose surrounding white space the plugin ignores (jwt reads a
    #: token the same from a file and from the wire). Padding any other field, and these
    #: in any other way, must be rejected.
    whitespace_tolerant: tuple[str, ...] = ()
    #: Secure-layer fields the plugin reads but that the factory's messages do not carry
    #: (jwt's ``hash`` of unsigned replies); the fuzz tests try values for them too.
    extra_fields: tuple[str, ...] = ()

    def client(self) -> SecurityProvider:
        """A client-side provider (``role="client"``)."""
        raise NotImplementedError

    def server(self) -> SecurityProvider:
        """A server-side provider trusting :meth:`client` and trusted by it."""
        raise NotImplementedError

    def foreign_clients(self) -> Mapping[str, SecurityProvider]:
        """Client-side providers of this plugin that :meth:`server` must not trust
        (another key, another issuer...), by description."""
        raise NotImplementedError

    def foreign_servers(self) -> Mapping[str, SecurityProvider]:
        """Server-side providers of this plugin whose replies :meth:`client` must not
        trust (another key, another node's identity...), by description."""
        raise NotImplementedError

    def expired_client(self) -> SecurityProvider | None:
        """A client whose credentials have expired but which still signs (its clock is
        wrong, say); ``None`` when this plugin's credentials do not expire."""
        return None

    def expired_server(self) -> SecurityProvider | None:
        """Likewise for a server's replies."""
        return None

    def request(self, client: SecurityProvider, **overrides: Any) -> Request:
        """A request ``client`` may sign (its own caller id, an action it may call)."""
        return sample_request(**{"caller": client.caller_id(), **overrides})

    def reply(self, server: SecurityProvider, **overrides: Any) -> Reply:
        """A reply ``server`` may sign: one sent in its own name, which is ``node1``
        unless this is overridden."""
        return sample_reply(**overrides)

    def field_values(self, field: str, real: Any) -> st.SearchStrategy[Any]:
        """Values to fuzz the secure-layer ``field`` with (``real`` is what a signed
        message carries, ``None`` for :attr:`extra_fields`). None of them may be
        ``real`` itself."""
        size = len(real) if isinstance(real, str) else 64
        return (json_values | hex_text(size + 6)
                | hex_text(size, min_size=size, upper=False)).filter(lambda v: v != real)


# --- the harness each test gets ---------------------------------------------------------------


class SecurityHarness:
    """A client and a server from the factory, and one message each has signed."""

    def __init__(self, factory: SecurityFactory) -> None:
        self.factory = factory
        self.client = factory.client()
        self.server = factory.server()
        self.name = self.client.name
        self.request = factory.request(self.client)
        self.reply = factory.reply(self.server)
        self.signed = {"request": encode_request(self.request, self.client),
                       "reply": encode_reply(self.reply, self.server)}
        self.fields = {kind: sorted(set(json.loads(data)) - CORE_FIELDS)
                       for kind, data in self.signed.items()}

    def signed_by(self, kind: Kind, signer: SecurityProvider) -> bytes:
        """The factory's request (in ``signer``'s caller id), or reply (in the name of
        the trusted server), signed by ``signer``."""
        if kind == "request":
            return encode_request(self.factory.request(signer), signer)
        return encode_reply(self.factory.reply(self.server), signer)

    def original(self, kind: Kind) -> Request | Reply:
        return self.request if kind == "request" else self.reply

    def split(self, kind: Kind) -> tuple[dict[str, Any], dict[str, Any]]:
        return split_secure(self.signed[kind], kind)

    def decode(self, kind: Kind, data: bytes) -> Request | Reply:
        """Decode as the receiving side does: requests on the server, replies on the
        client."""
        if kind == "request":
            return decode_request(data, self.server)
        return decode_reply(data, self.client)

    def decode_either(self, data: bytes) -> None:
        """Decode ``data`` as a request and as a reply; only MessageError and
        SecurityError may come out."""
        for kind in KINDS:
            try:
                self.decode(kind, data)
            except ALLOWED:
                pass

    def rejected(self, kind: Kind, data: bytes, match: str | None = None) -> None:
        """``data`` is rejected with a SecurityError matching ``match``."""
        with pytest.raises(SecurityError, match=match):
            self.decode(kind, data)

    def accepted_only_unchanged(self, kind: Kind, data: bytes) -> None:
        """``data`` is rejected (MessageError or SecurityError), or it decodes to exactly
        the message that was signed."""
        try:
            decoded = self.decode(kind, data)
        except ALLOWED:
            return
        assert decoded == self.original(kind), \
            f"a changed {kind} was accepted: {data[:300]!r}"


# --- tampering --------------------------------------------------------------------------------

Tamper = Callable[[dict[str, Any]], Any]

#: Changes to a signed request's payload that the signature must catch.
REQUEST_TAMPERS: dict[str, Tamper] = {
    "filter": lambda p: p["filter"]["fact"].append(
        {"fact": "country", "operator": "==", "value": "de"}),
    "filter cleared": lambda p: p.update(filter={}),
    "agent": lambda p: p.update(agent="shell"),
    "ttl": lambda p: p.update(ttl=p["ttl"] + 3600),
    "time": lambda p: p.update(time=p["time"] + 1),
    "collective": lambda p: p.update(collective="production"),
    "sender": lambda p: p.update(sender="attacker"),
    "id": lambda p: p.update(id="f" * 32),
    "reply_to": lambda p: p.update(reply_to="replies.attacker"),
    "action": lambda p: p["message"].update(action="run"),
    "data": lambda p: p["message"]["data"].update(n=2),
    "process_results": lambda p: p["message"].update(process_results=False),
    "added field": lambda p: p.update(extra=1),
}

#: Changes to a signed reply's payload that the signature must catch.
REPLY_TAMPERS: dict[str, Tamper] = {
    "statuscode": lambda p: p["message"].update(statuscode=1),
    "statusmsg": lambda p: p["message"].update(statusmsg="Aborted"),
    "data": lambda p: p["message"]["data"].update(pong=0),
    "request": lambda p: p.update(request="1" * 32),
    "agent": lambda p: p.update(agent="other"),
    "time": lambda p: p.update(time=0),
}

#: Changes of who a message claims to come from (another caller, another node).
#: Rejected, but a plugin that knows who its credentials belong to may say so before it
#: looks at the signature.
IDENTITY_TAMPERS: dict[str, tuple[Kind, Tamper]] = {
    "request caller": ("request", lambda p: p.update(caller=p["caller"] + "x")),
    "reply sender": ("reply", lambda p: p.update(sender=p["sender"] + "x")),
}

_MISSING = object()

#: Malformed values for a plugin's secure-layer fields (given the real value).
MALFORMED: dict[str, Callable[[Any], Any]] = {
    "missing": lambda v: _MISSING,
    "null": lambda v: None,
    "int": lambda v: 12345,
    "float": lambda v: 1.5,
    "bool": lambda v: True,
    "list": lambda v: [v],
    "dict": lambda v: {"value": v},
    "empty": lambda v: "",
    "halved": lambda v: v[: len(v) // 2],
    "one short": lambda v: v[:-1],
    "one long": lambda v: v + v[-1],
    "uppercase": lambda v: v.upper(),
    "non-ascii": lambda v: "é" * len(v),
    "trailing newline": lambda v: v + "\n",
    "leading space": lambda v: " " + v,
    "garbage": lambda v: "garbage",
}
#: The mutations that only add white space around the value.
PADDING = frozenset({"trailing newline", "leading space"})

#: Envelopes that are not a signed message; ``{name}`` is the plugin's name.
MALFORMED_ENVELOPES: dict[str, bytes] = {
    "empty": b"",
    "binary": b"\x00\xff\xfe",
    "garbage": b"garbage",
    "null": b"null",
    "list": b"[]",
    "number": b"42",
    "string": b'"string"',
    "empty object": b"{}",
    "protocol only": b'{"protocol": "mcollective:secure:request:1"}',
    "request not a string":
        b'{"protocol": "mcollective:secure:request:1", "security": "{name}", "request": 5}',
    "security not a string":
        b'{"protocol": "mcollective:secure:request:1", "security": 5, "request": "{}"}',
    "request not json":
        b'{"protocol": "mcollective:secure:request:1", "security": "{name}", "request": "{"}',
    "request a list":
        b'{"protocol": "mcollective:secure:request:1", "security": "{name}", "request": "[]"}',
    "request empty":
        b'{"protocol": "mcollective:secure:request:1", "security": "{name}", "request": "{}"}',
    "reply empty":
        b'{"protocol": "mcollective:secure:reply:1", "security": "{name}", "reply": "{}"}',
    "deeply nested": b"[" * 100_000,
}

#: Where a character of a secure-layer field is changed.
POSITIONS: dict[str, Callable[[int], int]] = {
    "first": lambda n: 0, "middle": lambda n: n // 2, "last": lambda n: n - 1,
}

# Each plugin's subclass runs these same methods (differing executors), with a fresh
# harness per test function, never changed by an example (function-scoped fixture).
_FUZZ = settings(suppress_health_check=[HealthCheck.too_slow,
                                        HealthCheck.function_scoped_fixture,
                                        HealthCheck.differing_executors])


def _flip(value: str, index: int) -> str:
    return value[:index] + ("0" if value[index] != "0" else "1") + value[index + 1:]


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _with_field(outer: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    changed = dict(outer)
    if value is _MISSING:
        changed.pop(field, None)
    else:
        changed[field] = value
    return changed


# --- the contract -------------------------------------------------------------------------------


class SecurityContract:
    """Subclass once per security plugin and override :meth:`security_factory`."""

    @pytest.fixture
    def security_factory(self) -> SecurityFactory:
        raise NotImplementedError("override the security_factory fixture")

    @pytest.fixture
    def security(self, security_factory: SecurityFactory) -> SecurityHarness:
        return SecurityHarness(security_factory)

    # --- what a provider is ---------------------------------------------------------

    def test_providers_are_security_providers(self, security: SecurityHarness) -> None:
        for provider in (security.client, security.server):
            assert isinstance(provider, SecurityProvider)
            assert isinstance(provider.name, str) and provider.name
            assert re.fullmatch(CALLER_RE, provider.caller_id()), provider.caller_id()
        assert security.server.name == security.name

    @pytest.mark.parametrize("kind", KINDS)
    def test_secure_layer_carries_the_exact_payload(self, security: SecurityHarness,
                                                    kind: Kind) -> None:
        outer = json.loads(security.signed[kind])
        protocol = SECURE_REQUEST_PROTOCOL if kind == "request" else SECURE_REPLY_PROTOCOL
        assert (outer["protocol"], outer["security"]) == (protocol, security.name)
        assert outer[kind] == security.original(kind).to_json()
        assert security.fields[kind], "the plugin adds nothing to authenticate the message"

    # --- round trips ----------------------------------------------------------------

    def test_request_round_trip(self, security: SecurityHarness) -> None:
        assert security.decode("request", security.signed["request"]) == security.request

    def test_reply_round_trip(self, security: SecurityHarness) -> None:
        original = security.factory.reply(
            security.server, data={"nested": {"list": [1, 2.5, "x", None, True]}, "ü": "ß"})
        decoded = security.decode("reply", encode_reply(original, security.server))
        assert decoded == original

    def test_unicode_payload_round_trip(self, security: SecurityHarness) -> None:
        original = security.factory.request(
            security.client, message={"action": "echo", "data": {"msg": "héllo ☃ 𝄞"}})
        decoded = security.decode("request", encode_request(original, security.client))
        assert decoded == original

    # --- tampering with the payload -----------------------------------------------------

    @pytest.mark.parametrize("tamper", REQUEST_TAMPERS.values(), ids=REQUEST_TAMPERS.keys())
    def test_tampered_request_is_rejected(self, security: SecurityHarness, tamper: Tamper
                                          ) -> None:
        outer, payload = security.split("request")
        tamper(payload)
        security.rejected("request", join_secure(outer, payload),
                          security.factory.altered)

    @pytest.mark.parametrize("tamper", REPLY_TAMPERS.values(), ids=REPLY_TAMPERS.keys())
    def test_tampered_reply_is_rejected(self, security: SecurityHarness, tamper: Tamper
                                        ) -> None:
        outer, payload = security.split("reply")
        tamper(payload)
        security.rejected("reply", join_secure(outer, payload, "reply"),
                          security.factory.altered)

    @pytest.mark.parametrize("change", IDENTITY_TAMPERS.values(),
                             ids=IDENTITY_TAMPERS.keys())
    def test_changed_identity_is_rejected(self, security: SecurityHarness,
                                          change: tuple[Kind, Tamper]) -> None:
        kind, tamper = change
        outer, payload = security.split(kind)
        tamper(payload)
        security.rejected(kind, join_secure(outer, payload, kind))

    @pytest.mark.parametrize("kind", KINDS)
    def test_reformatted_payload_is_rejected(self, security: SecurityHarness, kind: Kind
                                             ) -> None:
        """What is signed is the exact string: even meaning-preserving changes fail."""
        outer, payload = security.split(kind)
        security.rejected(kind, join_secure(outer, json.dumps(payload, indent=1), kind),
                          security.factory.altered)

    def test_signature_from_another_message_is_rejected(self, security: SecurityHarness
                                                        ) -> None:
        outer, _ = security.split("request")
        other = security.factory.request(security.client, message={
            "action": "inventory", "data": {}, "process_results": True})
        _, payload = split_secure(encode_request(other, security.client))
        security.rejected("request", join_secure(outer, payload), security.factory.altered)

    @pytest.mark.parametrize("kind", KINDS)
    def test_lone_surrogate_in_payload_fails_cleanly(self, security: SecurityHarness,
                                                     kind: Kind) -> None:
        """JSON escapes can smuggle lone surrogates into the decoded payload string."""
        outer, payload = security.split(kind)
        payload["message"]["data"]["n"] = "\ud800"
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        assert "\ud800" in text
        security.rejected(kind, join_secure(outer, text, kind), security.factory.altered)

    @pytest.mark.parametrize("kind", KINDS)
    def test_any_changed_byte_is_rejected(self, security: SecurityHarness, kind: Kind
                                          ) -> None:
        """One bit of each byte in turn: rejected, or (where the change is not one, say
        unused bits of a base64 digit) accepted as exactly what was signed."""
        data = security.signed[kind]
        for index in range(len(data)):
            changed = data[:index] + bytes([data[index] ^ 1]) + data[index + 1:]
            security.accepted_only_unchanged(kind, changed)

    @pytest.mark.parametrize("kind", KINDS)
    def test_truncated_message_is_rejected(self, security: SecurityHarness, kind: Kind
                                           ) -> None:
        data = security.signed[kind]
        for end in range(len(data)):
            with pytest.raises(ALLOWED):
                security.decode(kind, data[:end])

    # --- the plugin's own secure-layer fields -----------------------------------------------

    @pytest.mark.parametrize("position", POSITIONS.values(), ids=POSITIONS.keys())
    @pytest.mark.parametrize("kind", KINDS)
    def test_changed_character_in_a_field_is_rejected(
            self, security: SecurityHarness, kind: Kind, position: Callable[[int], int]
    ) -> None:
        outer = json.loads(security.signed[kind])
        for field in security.fields[kind]:
            value = outer[field]
            if not isinstance(value, str) or not value:
                continue
            flipped = _flip(value, position(len(value)))
            changed = join_secure(_with_field(outer, field, flipped), outer[kind], kind)
            match = security.factory.altered \
                if field == security.factory.signature_field else None
            security.rejected(kind, changed, match)

    @pytest.mark.parametrize("mutation", MALFORMED)
    def test_malformed_request_fields(self, security: SecurityHarness, mutation: str
                                      ) -> None:
        self._malformed_fields(security, "request", mutation)

    @pytest.mark.parametrize("mutation", MALFORMED)
    def test_malformed_reply_fields(self, security: SecurityHarness, mutation: str
                                    ) -> None:
        self._malformed_fields(security, "reply", mutation)

    @staticmethod
    def _malformed_fields(security: SecurityHarness, kind: Kind, mutation: str) -> None:
        outer, payload = security.split(kind)
        for field in security.fields[kind]:
            value = outer[field]
            try:
                malformed = MALFORMED[mutation](value)
            except (TypeError, IndexError):  # a string mutation of a non-string field
                continue
            if malformed == value:
                continue
            data = join_secure(_with_field(outer, field, malformed), payload, kind)
            if mutation in PADDING and field in security.factory.whitespace_tolerant:
                security.accepted_only_unchanged(kind, data)
            else:
                security.rejected(kind, data, security.factory.malformed)

    @pytest.mark.parametrize("kind", KINDS)
    def test_other_security_plugin_is_rejected(self, security: SecurityHarness, kind: Kind
                                               ) -> None:
        outer, payload = security.split(kind)
        for other in ("psk", "jwt", "none", ""):
            if other != security.name:
                security.rejected(kind, join_secure({**outer, "security": other}, payload,
                                                    kind), re.escape(repr(other)))

    def test_reply_is_not_accepted_as_request(self, security: SecurityHarness) -> None:
        with pytest.raises(MessageError):
            security.decode("request", security.signed["reply"])
        with pytest.raises(MessageError):
            security.decode("reply", security.signed["request"])

    @pytest.mark.parametrize("template", MALFORMED_ENVELOPES.values(),
                             ids=MALFORMED_ENVELOPES.keys())
    def test_malformed_envelopes(self, security: SecurityHarness, template: bytes) -> None:
        data = template.replace(b"{name}", security.name.encode())
        for kind in KINDS:
            with pytest.raises(ALLOWED):
                security.decode(kind, data)

    @pytest.mark.parametrize("kind", KINDS)
    def test_huge_integer_time(self, security: SecurityHarness, kind: Kind) -> None:
        outer, payload = security.split(kind)
        payload["time"] = 10**400
        with pytest.raises(ALLOWED):
            security.decode(kind, join_secure(outer, payload, kind))

    # --- credentials ------------------------------------------------------------------

    def test_request_from_an_untrusted_client_is_rejected(self, security: SecurityHarness
                                                          ) -> None:
        self._untrusted(security, "request", security.factory.foreign_clients())

    def test_reply_from_an_untrusted_server_is_rejected(self, security: SecurityHarness
                                                        ) -> None:
        self._untrusted(security, "reply", security.factory.foreign_servers())

    def test_request_with_expired_credentials_is_rejected(self, security: SecurityHarness
                                                          ) -> None:
        self._untrusted(security, "request", self._expired(security.factory.expired_client()))

    def test_reply_with_expired_credentials_is_rejected(self, security: SecurityHarness
                                                        ) -> None:
        self._untrusted(security, "reply", self._expired(security.factory.expired_server()))

    @staticmethod
    def _expired(signer: SecurityProvider | None) -> dict[str, SecurityProvider]:
        if signer is None:
            pytest.skip("this plugin's credentials do not expire")
        return {"expired credentials": signer}

    @staticmethod
    def _untrusted(security: SecurityHarness, kind: Kind,
                   signers: Mapping[str, SecurityProvider]) -> None:
        assert signers, "the factory gave no untrusted credentials to test"
        for what, signer in signers.items():
            try:
                security.decode(kind, security.signed_by(kind, signer))
            except SecurityError:
                continue
            pytest.fail(f"a {kind} signed with {what} was accepted")

    # --- whatever arrives: properties -----------------------------------------------------

    @_FUZZ
    @given(data=st.binary(max_size=512))
    @example(data=b"\xef\xbb\xbf{}")  # a UTF-8 byte order mark
    @example(data=b"\x00" * 8)
    def test_arbitrary_bytes(self, security: SecurityHarness, data: bytes) -> None:
        security.decode_either(data)

    @_FUZZ
    @given(value=json_values)
    def test_arbitrary_json(self, security: SecurityHarness, value: Any) -> None:
        security.decode_either(_dump(value))

    @_FUZZ
    @given(draw=st.data())
    def test_arbitrary_secure_layers(self, security: SecurityHarness,
                                     draw: st.DataObject) -> None:
        protocol = draw.draw(st.sampled_from([SECURE_REQUEST_PROTOCOL, SECURE_REPLY_PROTOCOL])
                             | st.text(), "protocol")
        name = draw.draw(st.just(security.name) | json_values, "security")
        body = draw.draw(st.text() | json_values.map(json.dumps) | json_values, "body")
        fields = {field: draw.draw(security.factory.field_values(field, None), field)
                  for field in self._fuzzed_fields(security)}
        for kind in KINDS:
            outer = {"protocol": protocol, "security": name, kind: body, **fields}
            security.decode_either(_dump(outer))

    @_FUZZ
    @given(draw=st.data())
    def test_arbitrary_fields_on_a_real_message(self, security: SecurityHarness,
                                                draw: st.DataObject) -> None:
        """Every one of the plugin's fields replaced: always a SecurityError."""
        kind = draw.draw(st.sampled_from(KINDS), "kind")
        outer, payload = security.split(kind)
        for field in security.fields[kind]:
            outer[field] = draw.draw(security.factory.field_values(field, outer[field]),
                                     field)
        security.rejected(kind, join_secure(outer, payload, kind))

    @_FUZZ
    @given(key=st.sampled_from(sorted(sample_request().to_dict())), value=json_values)
    def test_mutated_signed_request(self, security: SecurityHarness, key: str, value: Any
                                    ) -> None:
        """Accepted only if the mutation left the signed string as it was."""
        self._mutated(security, "request", key, value)

    @_FUZZ
    @given(key=st.sampled_from(sorted(sample_reply().to_dict())), value=json_values)
    def test_mutated_signed_reply(self, security: SecurityHarness, key: str, value: Any
                                  ) -> None:
        self._mutated(security, "reply", key, value)

    @staticmethod
    def _mutated(security: SecurityHarness, kind: Kind, key: str, value: Any) -> None:
        outer, payload = security.split(kind)
        payload[key] = value
        security.accepted_only_unchanged(kind, join_secure(outer, payload, kind))

    @staticmethod
    def _fuzzed_fields(security: SecurityHarness) -> list[str]:
        return sorted({*security.fields["request"], *security.fields["reply"],
                       *security.factory.extra_fields})


__all__ = [
    "ALLOWED",
    "IDENTITY_TAMPERS",
    "MALFORMED",
    "MALFORMED_ENVELOPES",
    "PADDING",
    "REPLY_TAMPERS",
    "REQUEST_TAMPERS",
    "SecurityContract",
    "SecurityFactory",
    "SecurityHarness",
    "hex_text",
    "join_secure",
    "json_values",
    "sample_reply",
    "sample_request",
    "split_secure",
]
