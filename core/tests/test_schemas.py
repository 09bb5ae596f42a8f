"""Real messages — made by the real client and daemon, captured on the wire — validate
against the JSON Schemas shipped in mcollective/schemas/ (docs/schemas/ in the documentation)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from inprocess import client, collective

import mcollective

SCHEMAS = Path(mcollective.__file__).resolve().parent / "schemas"


def schema(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((SCHEMAS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", ["request", "reply", "secure_request", "secure_reply"])
def test_schemas_are_valid_draft7(name: str) -> None:
    jsonschema.Draft7Validator.check_schema(schema(name))


def test_captured_messages_validate() -> None:
    requests: list[bytes] = []
    replies: list[bytes] = []
    with collective("n1", "n2", facts={"n1": {"a": 1}}) as (daemons, session):
        session.connect()
        publish_request = session.connector.publish_request
        session.connector.publish_request = lambda body, **kw: (  # type: ignore[method-assign]
            requests.append(body), publish_request(body, **kw))[1]
        for daemon in daemons:
            original = daemon.connector.publish_reply

            def spy(body: bytes, reply_to: str, *, ttl: int, _o=original) -> None:  # type: ignore[no-untyped-def]
                replies.append(body)
                _o(body, reply_to, ttl=ttl)

            daemon.connector.publish_reply = spy  # type: ignore[method-assign]
        c = client(session)
        c.class_filter("/web/")
        c.compound_filter("fstat('/etc/hosts').size>0 and !db")
        assert c.discover() == []
        c.reset_filter()
        c.fact_filter("a>=1")
        c.compound_filter("(a=1 or not db) and a=~/1/")
        assert [r.sender for r in c.call("echo", message="x")] == ["n1"]
        c.reset_filter()
        c.identity_filter("n2")
        c.call("crash")
    assert len(requests) >= 3 and len(replies) >= 2
    for body in requests:
        outer = json.loads(body)
        jsonschema.validate(outer, schema("secure_request"))
        jsonschema.validate(json.loads(outer["request"]), schema("request"))
    for body in replies:
        outer = json.loads(body)
        jsonschema.validate(outer, schema("secure_reply"))
        jsonschema.validate(json.loads(outer["reply"]), schema("reply"))
