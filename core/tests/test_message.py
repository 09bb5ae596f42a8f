"""Requests, replies and the secure layer: JSON round trips and strict decoding."""

from __future__ import annotations

import json

import pytest

from mcollective.errors import MessageError
from mcollective.message import (
    Reply,
    Request,
    new_request_id,
    request_bounds_error,
    unwrap_secure,
    wrap_secure,
)


def make_request(**kw: object) -> Request:
    base = dict(agent="rpcutil", collective="mcollective", sender="client1",
                caller="user=alice", message={"action": "ping", "data": {}})
    base.update(kw)
    return Request(**base)  # type: ignore[arg-type]


def test_request_id_is_32_hex() -> None:
    for _ in range(100):
        rid = new_request_id()
        assert len(rid) == 32
        int(rid, 16)
        assert rid == rid.lower()


def test_request_round_trip() -> None:
    request = make_request(reply_to="reply.q", ttl=30)
    again = Request.from_json(request.to_json())
    assert again == request
    assert again.action == "ping"
    assert again.process_results is True


def test_reply_round_trip() -> None:
    reply = Reply(request=new_request_id(), sender="n1", agent="rpcutil", statuscode=1,
                  statusmsg="nope", data={"x": [1, 2]})
    assert Reply.from_json(reply.to_json()) == reply


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda d: d.pop("agent"), "has no 'agent'"),
    (lambda d: d.update(ttl="60"), "'ttl' has the wrong type"),
    (lambda d: d.update(ttl=True), "'ttl' has the wrong type"),
    (lambda d: d.update(ttl=0), "at least 1"),
    (lambda d: d.update(id="xyz"), "32 lowercase hex"),
    (lambda d: d.update(protocol="choria:request:1"), "unsupported request protocol"),
    (lambda d: d.update(filter={"bogus": []}), "unknown key 'bogus'"),
    (lambda d: d.update(filter={"fact": "x"}), "must be a list"),
    (lambda d: d.update(message={"action": 5}), "'action' must be a string"),
    (lambda d: d.update(message=[]), "'message' has the wrong type"),
])
def test_malformed_requests_rejected(mutate: object, words: str) -> None:
    data = make_request().to_dict()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(MessageError, match=words):
        Request.from_json(json.dumps(data))


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[1,2]", b"null", b"{", b"\"x\""])
def test_garbage_is_message_error(raw: bytes) -> None:
    with pytest.raises(MessageError):
        Request.from_json(raw)
    with pytest.raises(MessageError):
        unwrap_secure("request", raw)


def test_old_puppet_class_filter_key_accepted() -> None:
    data = make_request().to_dict()
    data["filter"] = {"puppet_class": ["apache"]}
    assert Request.from_dict(data).filter["cf_class"] == ["apache"]


def test_secure_layer_keeps_exact_payload() -> None:
    payload = make_request().to_json()
    wrapped = wrap_secure("request", payload, "psk", {"signature": "ab"})
    fields, again = unwrap_secure("request", wrapped)
    assert again == payload
    assert fields["signature"] == "ab"
    with pytest.raises(MessageError, match="not a secure reply"):
        unwrap_secure("reply", wrapped)


# --- bounds (docs/security.md, "Bounds") -----------------------------------------------------


def _bounded(**fields: object) -> Request:
    request = Request(agent="rpcutil", collective="mcollective", sender="n1",
                      caller="user=alice", message={"action": "ping"}, reply_to="r")
    for name, value in fields.items():
        setattr(request, name, value)
    return request


@pytest.mark.parametrize(("fields", "named"), [
    ({"ttl": 3601}, "'ttl'"), ({"ttl": 10 ** 400}, "'ttl'"),
    ({"reply_to": "r" * 256}, "'reply_to'"), ({"reply_to": "é" * 128}, "'reply_to'"),
    ({"agent": "a" * 256}, "'agent'"), ({"collective": "c" * 256}, "'collective'"),
    ({"sender": "s" * 256}, "'sender'"), ({"caller": "user=" + "c" * 1020}, "'caller'"),
    ({"message": {"action": "x" * 256}}, "'action'"),
    ({"filter": {"identity": ["n"] * 1001}}, "'filter'"),
])
def test_each_field_bound_is_named(fields: dict[str, object], named: str) -> None:
    problem = request_bounds_error(_bounded(**fields), 3600)
    assert problem is not None and named in problem and "\n" not in problem


def test_fields_at_their_bounds_pass() -> None:
    assert request_bounds_error(_bounded(ttl=3600, reply_to="r" * 255, agent="a" * 255,
                                         caller="u=" + "c" * 1022), 3600) is None
    assert request_bounds_error(_bounded(ttl=7200), 7200) is None
