"""Property: whatever reaches a node — arbitrary bytes, junk envelopes, or correctly
signed requests with hostile contents — ``Daemon.handle_message`` never lets an
exception escape its checks, every message lands in exactly one counter, and the node
keeps answering real requests afterwards.

The in-process daemon runs only the ``rpcutil``, ``discovery`` and a harmless ``fuzz``
agent, so no fuzzed request can run anything with side effects.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from inprocess import HmacSecurity, client, make_plugins, node_config

from mcollective.agent import Agent, AgentReply, AgentRequest
from mcollective.client import ClientSession
from mcollective.ddl import AgentDDL, action_ddl, input_item, output_item
from mcollective.message import REQUEST_PROTOCOL, SECURE_REQUEST_PROTOCOL, wrap_secure
from mcollective.server.daemon import Daemon


class Fuzz(Agent):
    agent_name = "fuzz"

    @classmethod
    def load_ddl(cls) -> AgentDDL:
        return AgentDDL.build(
            name="fuzz", description="harmless", author="tests", license="Apache-2.0",
            version="1.0.0", url="https://example.net", timeout=2,
            actions=[action_ddl("echo", "echo", inputs=[
                input_item("message", description="m", maxlength=50, optional=True),
                input_item("count", description="c", type="integer", optional=True),
                input_item("flags", description="f", type="hash", optional=True),
            ], outputs=[output_item("message", description="m")])])

    def echo(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["message"] = request.get("message")


ENABLED = "activate_agents = 0\n" + "".join(
    f"plugin.{a}.activate_agent = 1\n" for a in ("rpcutil", "discovery", "fuzz"))
SIGNER = HmacSecurity()


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[Daemon, ClientSession]]:
    broker = uuid.uuid4().hex
    plugins = make_plugins(Fuzz)
    daemon = Daemon(node_config("n1", broker, ENABLED + "max_message_size = 65536\n"
                                "clock_skew = 5\n"), plugins=plugins)
    daemon.start()
    assert sorted(daemon.agents) == ["discovery", "fuzz", "rpcutil"]
    session = ClientSession(node_config("client", broker), plugins=plugins)
    session.connect()
    try:
        yield daemon, session
    finally:
        session.close()
        daemon.stop(timeout=3)


def check_counters(daemon: Daemon) -> None:
    s = daemon.stats.snapshot()
    assert s["errors"] == 0, "an exception escaped a pipeline step"
    assert s["total"] == s["oversized"] + s["malformed"] + s["unvalidated"] + s["validated"]
    assert s["validated"] == (s["outofbounds"] + s["ttlexpired"] + s["filtered"]
                              + s["replayed"] + s["passed"])


def feed(daemon: Daemon, body: bytes) -> None:
    before = daemon.stats["total"]
    daemon.handle_message(body)
    assert daemon.stats["total"] == before + 1
    check_counters(daemon)


# --- strategies --------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, json_values)


fact_entries = st.fixed_dictionaries({
    "fact": maybe(st.sampled_from(["country", "os.family", "", "a" * 300])),
    "operator": maybe(st.sampled_from(["==", "!=", "<", ">=", "=~", "!~", "<>"])),
    "value": maybe(st.sampled_from(["uk", "/(a+)+$/", "[", "1e999", ""])),
})
compound = st.recursive(
    st.one_of(fact_entries, st.fixed_dictionaries({"class": maybe(st.text(max_size=10))}),
              st.fixed_dictionaries({"data": maybe(st.sampled_from(["x", "fstat"])),
                                     "query": json_values, "output": json_values,
                                     "operator": json_values, "value": json_values})),
    lambda c: st.fixed_dictionaries({"and": st.lists(c, max_size=3)})
    | st.fixed_dictionaries({"or": st.lists(c, max_size=3)})
    | st.fixed_dictionaries({"not": c}),
    max_leaves=12)
filters = st.one_of(
    st.just({}), st.just({"agent": ["fuzz"]}), st.just({"identity": ["n1"]}), st.just({}),
    st.fixed_dictionaries({}, optional={
        "fact": maybe(st.lists(fact_entries, max_size=3)),
        "cf_class": maybe(st.lists(st.sampled_from(["base", "/^(a|a)*$/", "/[/"]),
                                   max_size=2)),
        "puppet_class": maybe(st.lists(st.text(max_size=5), max_size=2)),
        "agent": maybe(st.lists(st.sampled_from(["fuzz", "rpcutil", "/./", "x"]),
                                max_size=2)),
        "identity": maybe(st.lists(st.sampled_from(["n1", "/n/", "other", "/("]),
                                   max_size=2)),
        "compound": maybe(st.lists(compound, max_size=2)),
    }),
    st.fixed_dictionaries({"bogus": json_values}),
    json_values)
actions = st.sampled_from(["echo", "ping", "daemon_stats", "inventory", "get_fact",
                           "get_config_item", "agent_inventory", "_private", "handle",
                           "run_command", "startup", "__init__", ""])
data = st.dictionaries(st.sampled_from(["message", "count", "flags", "fact", "item", "x",
                                        "process_results"]),
                       st.one_of(st.text(max_size=60), st.integers(), json_values),
                       max_size=3)
FIELDS = ["protocol", "id", "sender", "caller", "collective", "agent", "ttl", "time",
          "filter", "message", "reply_to"]


class Offset(float):
    """A request time relative to the moment the example runs (generation must not
    depend on the clock: hypothesis replays examples)."""


@st.composite
def hostile_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request that is well-formed in most fields, with hostile values where it
    counts (filters, data, ttl, time, names) and at most two fields replaced by
    arbitrary JSON or removed, so that every stage of the pipeline is reached."""
    request: dict[str, Any] = {
        "protocol": REQUEST_PROTOCOL,
        "id": draw(st.uuids().map(lambda u: u.hex)),
        "sender": draw(st.text(max_size=20)),
        "caller": draw(st.sampled_from(["user=x", "user=fuzz", "x", "", "user=\n"])),
        "collective": draw(st.sampled_from(["mcollective"] * 4 + ["other", ""])),
        "agent": draw(st.sampled_from(["fuzz"] * 3 + ["rpcutil", "discovery", "nope",
                                                      "../x", ""])),
        "ttl": draw(st.sampled_from([60] * 12 + [1, 0, -5, 10**400, 2**63])),
        "time": draw(st.one_of(*[st.floats(-10, 10).map(Offset)] * 4, st.sampled_from(
            [0, -1e308, 1e308, Offset(-3600), Offset(3600)]))),
        "filter": draw(filters),
        "message": {"action": draw(actions), "data": draw(data)},
    }
    reply_to = draw(st.sampled_from(["nowhere", None, ""]))
    if reply_to is not None:
        request["reply_to"] = reply_to
    if draw(st.booleans()):
        request["message"]["process_results"] = draw(json_values)
    perturb = draw(st.sampled_from([0, 0, 0, 1, 2]))
    for field in draw(st.lists(st.sampled_from(FIELDS), min_size=perturb, max_size=perturb,
                               unique=True)):
        if draw(st.booleans()):
            request[field] = draw(json_values)
        else:
            request.pop(field, None)
    return request


def signed(payload: str) -> bytes:
    """A secure layer carrying ``payload`` with a correct signature over it."""
    return wrap_secure("request", payload, SIGNER.name, {"signature": SIGNER._sig(payload)})


# --- properties ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
@example(b"")
@example(b"\xef\xbb\xbf{}")
@example(b"\xff\xfe\x00{")
@example(b"[" * 100_000)
@example(b"{" + b" " * 70_000 + b"}")
def test_arbitrary_bytes(node: tuple[Daemon, ClientSession], body: bytes) -> None:
    feed(node[0], body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["protocol", "security", "request", "signature",
                                        "reply"]),
                       maybe(st.sampled_from([SECURE_REQUEST_PROTOCOL, "contracttest"])),
                       max_size=5) | json_values)
def test_junk_envelopes(node: tuple[Daemon, ClientSession], outer: Any) -> None:
    feed(node[0], json.dumps(outer).encode())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_requests())
def test_signed_hostile_requests(node: tuple[Daemon, ClientSession],
                                 request: dict[str, Any]) -> None:
    if isinstance(request.get("time"), Offset):
        request["time"] = time.time() + request["time"]
    feed(node[0], signed(json.dumps(request)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
@example('{"protocol": "mcollective:request:1", "id": ' + "[" * 50_000)
@example('{"protocol": "mcollective:request:1", "agent": "\\ud800", "caller": "\\udfff"}')
def test_signed_non_json_payloads(node: tuple[Daemon, ClientSession], payload: str) -> None:
    feed(node[0], signed(payload))


def test_node_keeps_answering_after_the_storm(node: tuple[Daemon, ClientSession]) -> None:
    daemon, session = node
    result = client(session, "fuzz").call("echo", message="alive")
    assert [(r.statuscode, r.data["message"]) for r in result] == [(0, "alive")]
    check_counters(daemon)
    deadline = time.monotonic() + 10
    while daemon.daemon_stats()["inflight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.daemon_stats()["inflight"] == 0
    assert daemon.stats["errors"] == 0
