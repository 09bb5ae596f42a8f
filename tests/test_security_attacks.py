"""Attacks on a real daemon guarded by psk, actionpolicy and the logfile audit.

An attacker on the middleware can drop any bytes into a node's queue. Each attack here
is sent over the real transport to a real ``mcollectived``; each must be rejected,
counted in ``daemon_stats``, audited where the node got far enough to know who asked,
and never executed. Every action the node runs is audited *before* it runs, so an
attack request id that is absent from the audit log (or present only as refused) was
never executed.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet import daemon_stats

from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.message import Reply, Request, empty_filter
from mcollective.security import encode_request
from mcollective.testing import LocalCollective
from mcollective_security_psk.plugin import create_provider

TARGET = "target.example.net"
MAX_SIZE = 65536
NOT_AUTHORIZED = "You are not authorized to call this agent or action"
RPCUTIL_POLICY = (
    "# written by test_security_attacks\n"
    "policy default deny\n"
    "allow\t*\tping daemon_stats inventory\t*\t*\n"
)


class Guarded:
    """The collective, the target's audit log, and an attacker's raw connection."""

    def __init__(self, collective: LocalCollective) -> None:
        self.collective = collective
        policies = collective.root / "policies"
        policies.mkdir()
        (policies / "rpcutil.policy").write_text(RPCUTIL_POLICY, encoding="utf-8")
        self.audit_log = collective.root / "audit" / "audit.log"
        collective.add_node(TARGET, settings={
            "rpcauthorization": 1, "rpcauthprovider": "actionpolicy",
            "plugin.actionpolicy.policy_dir": str(policies),
            "rpcaudit": 1, "rpcauditprovider": "logfile",
            "plugin.rpcaudit.logfile": str(self.audit_log),
            "max_message_size": MAX_SIZE,
        })
        config = load_config(collective.client_config)
        self.session = ClientSession(config)
        self.session.connect()
        wrong = load_config(collective.write_client_config(
            "wrong.cfg", **{"plugin.psk": "not the collective's key"}))
        self.forger = create_provider(wrong, "client", environ={})

    def request(self, action: str = "ping", **kw: Any) -> Request:
        filt = empty_filter()
        filt["agent"] = ["rpcutil"]
        request = self.session.new_request("rpcutil", action, {}, filter=filt)
        for key, value in kw.items():
            setattr(request, key, value)
        return request

    def sign(self, request: Request) -> bytes:
        return encode_request(request, self.session.security)

    def send(self, body: bytes) -> None:
        assert self.session.connector is not None
        self.session.connector.publish_request(body, collective="mcollective",
                                               agent="rpcutil", ttl=60, targets=[TARGET])

    def stats(self) -> dict[str, Any]:
        return daemon_stats(self.collective, TARGET)

    def audit(self) -> list[dict[str, Any]]:
        try:
            text = self.audit_log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines()]

    def audited(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.audit() if r["request_id"] == request_id]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    collective = LocalCollective(tmp_path_factory.mktemp("attacks") / "collective")
    try:
        target = Guarded(collective)
        yield target
        target.session.close()
    finally:
        collective.stop_all()


def settle(guarded: Guarded, before: dict[str, Any], attacks: int,
           done: Callable[[dict[str, Any]], bool] = lambda s: True) -> dict[str, int]:
    """Wait until the node has received ``attacks`` messages besides our own
    daemon_stats calls, and return the counter deltas (minus those calls)."""
    deadline = time.monotonic() + 20
    calls = 0
    while True:
        after = guarded.stats()
        calls += 1  # each daemon_stats call is itself a request, counted before it runs
        delta = {k: after[k] - before[k] for k in before if isinstance(before[k], int)}
        if (delta["total"] - calls >= attacks and done(delta)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return delta


def test_forged_and_tampered_requests_are_rejected(guarded: Guarded) -> None:
    before = guarded.stats()
    forged = guarded.request()
    guarded.send(encode_request(forged, guarded.forger))
    tampered_ids = []
    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "filter": lambda r: r["filter"].update(identity=[TARGET]),
        "agent": lambda r: r.update(agent="discovery"),
        "action": lambda r: r["message"].update(action="get_config_item"),
        "ttl": lambda r: r.update(ttl=r["ttl"] + 3600),
        "time": lambda r: r.update(time=r["time"] + 1),
        "collective": lambda r: r.update(collective="other"),
    }
    for change in changes.values():
        request = guarded.request()
        outer = json.loads(guarded.sign(request))
        inner = json.loads(outer["request"])
        change(inner)
        outer["request"] = json.dumps(inner)
        guarded.send(json.dumps(outer).encode())
        tampered_ids.append(request.id)
    delta = settle(guarded, before, 1 + len(changes))
    assert delta["unvalidated"] == 1 + len(changes)
    assert delta["replies"] == delta["passed"]  # only our daemon_stats calls answered
    for request_id in [forged.id, *tampered_ids]:
        assert guarded.audited(request_id) == []  # never reached an action
    log = guarded.collective.nodes[TARGET].log()
    assert "rejected request" in log


def test_replay_inside_ttl_is_rejected_and_audited(guarded: Guarded) -> None:
    request = guarded.request()
    replies: queue.SimpleQueue[Reply] = guarded.session.expect(request.id)
    body = guarded.sign(request)
    before = guarded.stats()
    guarded.send(body)
    first = replies.get(timeout=20)
    assert first.statuscode == 0 and "pong" in first.data
    guarded.send(body)
    guarded.send(body)
    delta = settle(guarded, before, 3, lambda d: d["replayed"] >= 2)
    assert delta["replayed"] == 2
    with pytest.raises(queue.Empty):
        replies.get(timeout=1)
    records = guarded.audited(request.id)
    assert [(r["authorized"], r["status"]) for r in records] == [
        (True, None), (False, None), (False, None)]
    assert records[1]["reason"].startswith("replayed")
    assert "replay dropped" in guarded.collective.nodes[TARGET].log()


def test_policy_denied_action_gets_status_1_and_is_audited(guarded: Guarded) -> None:
    before = guarded.stats()
    proc = guarded.collective.mco("rpc", "rpcutil", "get_config_item", "item=ttl",
                                  "-I", TARGET, "--json-format", "mcollective")
    [result] = json.loads(proc.stdout)
    assert (result["statuscode"], result["statusmsg"]) == (1, NOT_AUTHORIZED)
    assert "data" not in result or not result["data"].get("value")
    delta = settle(guarded, before, 0)
    assert delta["authfailures"] == 1
    [record] = [r for r in guarded.audit() if r["action"] == "get_config_item"]
    assert record["authorized"] is False and record["status"] == 1
    assert record["agent"] == "rpcutil" and record["data"] == {"item": "ttl"}
    assert "rpcutil.policy" in record["reason"]
    assert record["caller"].startswith("user=") and record["sender"] == "mco-client"
    # The same caller is still allowed what the policy allows.
    proc = guarded.collective.mco("rpc", "rpcutil", "ping", "-I", TARGET,
                                  "--json-format", "mcollective")
    assert json.loads(proc.stdout)[0]["statuscode"] == 0


def test_oversized_malformed_and_invalid_utf8_are_dropped_unread(guarded: Guarded
                                                                 ) -> None:
    before = guarded.stats()
    big = guarded.request()
    big.message["data"] = {"padding": "x" * MAX_SIZE}
    guarded.send(guarded.sign(big))
    guarded.send(b'{"protocol": "mcollective:secure:request:1", "request": ')
    guarded.send(b'{"protocol": "mcollective:secure:request:1", "request": "\xff\xfe"}')
    guarded.send(b"\xc3\x28\xa0\xa1 not utf-8 at all \xf0\x28\x8c\xbc")
    delta = settle(guarded, before, 4)
    assert delta["oversized"] == 1
    assert delta["malformed"] == 3
    assert delta["unvalidated"] == 0 and delta["replies"] == delta["passed"]
    assert guarded.audited(big.id) == []
    log = guarded.collective.nodes[TARGET].log()
    assert "larger than max_message_size" in log and "not valid UTF-8" in log


def test_node_still_answers(guarded: Guarded) -> None:
    proc = guarded.collective.mco("rpc", "rpcutil", "ping", "--json-format", "mcollective")
    [result] = json.loads(proc.stdout)
    assert result["sender"] == TARGET and result["statuscode"] == 0
    stats = guarded.stats()
    assert stats["errors"] == 0
    assert stats["total"] == (stats["oversized"] + stats["malformed"]
                              + stats["unvalidated"] + stats["validated"])


def test_audit_log_lines_are_complete(guarded: Guarded) -> None:
    keys = {"time", "request_id", "request_time", "caller", "sender", "agent", "action",
            "collective", "data", "authorized", "reason", "status"}
    guarded.stats()  # at least one audited request, whichever tests ran before
    records = guarded.audit()
    assert records and all(set(r) == keys for r in records)
    assert Path(guarded.audit_log).stat().st_mode & 0o777 == 0o640
