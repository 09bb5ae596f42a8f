"""Hostile messages sent straight into a real daemon's queue over the real transport:
none executed, each counted, the daemon still answers."""

from __future__ import annotations

import json
import time

from fleet import daemon_stats, ok

from mcollective.config import load_config
from mcollective.message import Request, empty_filter
from mcollective.plugins import make_plugin_manager
from mcollective.security import encode_request
from mcollective.testing import LocalCollective
from mcollective_security_psk.plugin import create_provider


def test_forged_tampered_expired_and_garbage_requests(local_collective: LocalCollective
                                                      ) -> None:
    local_collective.add_node("target.example.net")
    config = load_config(local_collective.client_config)
    plugins = make_plugin_manager()
    right = plugins.create_security(config, "client")
    wrong_config = load_config(local_collective.write_client_config(
        "wrong.cfg", **{"plugin.psk": "not the collective's key"}))
    wrong = create_provider(wrong_config, "client", environ={})
    connector = plugins.create_connector(config)
    connector.connect(timeout=10)
    before = daemon_stats(local_collective, "target.example.net")

    def request(**kw: object) -> Request:
        filt = empty_filter()
        filt["agent"] = ["rpcutil"]
        base = dict(agent="rpcutil", collective="mcollective", sender="attacker",
                    caller="user=mallory", message={"action": "ping", "data": {}},
                    filter=filt, reply_to="nowhere")
        base.update(kw)
        return Request(**base)  # type: ignore[arg-type]

    def send(body: bytes) -> None:
        connector.publish_request(body, collective="mcollective", agent="rpcutil", ttl=60,
                                  targets=["target.example.net"])

    send(encode_request(request(), wrong))  # signed with a different key
    outer = json.loads(encode_request(request(), right))
    inner = json.loads(outer["request"])
    inner["filter"]["identity"] = ["target.example.net"]  # tampered after signing
    outer["request"] = json.dumps(inner)
    send(json.dumps(outer).encode())
    send(encode_request(request(time=time.time() - 600), right))  # expired TTL
    send(b"\x8f\x00random bytes\xff" * 10)  # not a message at all
    connector.close()

    deadline = time.monotonic() + 10
    while True:
        after = daemon_stats(local_collective, "target.example.net")
        # +1 per daemon_stats call, +4 hostile messages
        if after["total"] - before["total"] >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert after["unvalidated"] - before["unvalidated"] == 2
    assert after["ttlexpired"] - before["ttlexpired"] == 1
    assert after["malformed"] - before["malformed"] == 1
    # Only our own daemon_stats calls passed and were answered.
    assert after["passed"] - before["passed"] == after["total"] - before["total"] - 4
    assert after["replies"] - before["replies"] == after["passed"] - before["passed"]
    log = local_collective.nodes["target.example.net"].log()
    assert "rejected request" in log and "expired" in log and "malformed" in log
    ok(local_collective.mco("ping"))
