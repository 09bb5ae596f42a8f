"""Hostile input against real daemons, the real ``mco`` and real brokers (issue 11).

* garbage on a node's Redis channels while it re-subscribes after a lost connection
  used to be taken for the broker refusing the subscriptions: the node dropped them
  and stayed deaf until SIGHUP. Now it is counted (``malformed``) and the node answers;
* every message a daemon receives is counted in exactly one ``daemon_stats`` category.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fleet import daemon_stats

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import TcpProxy
from mcollective.testing.hostile import GARBAGE

FAST = {"plugin.kombu.max_backoff": 1, "plugin.kombu.liveness_timeout": 3,
        "plugin.kombu.janitor_interval": 1, "plugin.kombu.heartbeat": 5}

#: Categories a received message ends in (see mcollective.server.stats).
RECEIVED = ("oversized", "malformed", "unvalidated", "validated")


def collective_on(tmp_path: Path, url: str, **extra: Any) -> LocalCollective:
    name = f"h{os.getpid()}{tmp_path.name[-8:]}".replace("-", "").replace("_", "")
    return LocalCollective(tmp_path, connector_url=url, collectives=(name,),
                           extra_config={**FAST, **extra})


def answered(collective: LocalCollective) -> set[str]:
    proc = collective.mco("ping", "--connection-timeout", "3", timeout=60)
    return {line.split()[0] for line in proc.stdout.splitlines() if "time=" in line}


def wait_answering(collective: LocalCollective, nodes: set[str], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if answered(collective) >= nodes:
            return time.monotonic() - started
        time.sleep(0.2)
    logs = "".join(f"\n--- {name}, last lines of its log:\n"
                   + "\n".join(node.log().splitlines()[-8:])
                   for name, node in sorted(collective.nodes.items()))
    pytest.fail(f"{sorted(nodes)} not answering after {timeout:g}s" + logs)


def assert_every_message_counted_once(stats: dict[str, Any]) -> None:
    assert stats["total"] == sum(stats[c] for c in RECEIVED), stats
    assert stats["validated"] == sum(stats[c] for c in (
        "ttlexpired", "filtered", "replayed", "replayfull", "passed", "outofbounds")), stats


class GarbageFlood:
    """Publishes transport garbage at a node's Redis channels and list, directly (not
    through the proxy the node uses), until stopped."""

    def __init__(self, url: str, collective: str, identity: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.channels = [f"/0.{collective}.agent.{agent}"
                         for agent in ("rpcutil", "discovery")]
        self.queue = f"{collective}.node.{identity}"
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        payloads = [p for _, p in GARBAGE]
        while not self._stop.is_set():
            for payload in payloads:
                for channel in self.channels:
                    self.sent += self.client.publish(channel, payload)
            time.sleep(0.01)

    def __enter__(self) -> GarbageFlood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.client.close()


@pytest.mark.broker("redis")
def test_garbage_while_resubscribing_never_deafens_a_redis_node(
        tmp_path: Path, redis_url: str) -> None:
    proxy = TcpProxy.for_url(redis_url).start()
    try:
        with collective_on(tmp_path, proxy.url(redis_url)) as collective:
            collective.add_node("n1")
            assert answered(collective) == {"n1"}
            name = collective.collectives[0]
            with GarbageFlood(redis_url, name, "n1") as flood:
                deadline = time.monotonic() + 30
                while flood.sent < 200 and time.monotonic() < deadline:
                    time.sleep(0.05)
                # The connection goes; the node re-subscribes while garbage arrives.
                proxy.cut()
                time.sleep(1)
                proxy.restore()
                time.sleep(2)
                took = wait_answering(collective, {"n1"}, 30)
                print(f"answering {took:.2f}s after the last cut, {flood.sent} garbage "
                      "messages received so far")
            took = wait_answering(collective, {"n1"}, 30)
            stats = daemon_stats(collective, "n1")
            assert stats["malformed"] > 0, stats
            assert_every_message_counted_once(stats)
            assert collective.nodes["n1"].alive()
            assert "dropped them" not in collective.nodes["n1"].log()
    finally:
        proxy.stop()


# --- request fields out of bounds ---------------------------------------------------------


def client_session(collective: LocalCollective) -> Any:
    from mcollective.client import ClientSession
    from mcollective.config import load_config

    return ClientSession(load_config(collective.client_config, role="client"))


def send_hostile(session: Any, collective: str, **fields: Any) -> None:
    """A correctly signed request with ``fields`` set beyond their bounds, built and
    published without the client's own checks (as an attacker's client would)."""
    from mcollective.message import Request, empty_filter

    request = Request(agent="rpcutil", collective=collective, sender="attacker",
                      caller=session.caller, message={"action": "ping", "data": {}},
                      filter=empty_filter(), reply_to=session.reply_to)
    for name, value in fields.items():
        setattr(request, name, value)
    session.publish(request)


@pytest.mark.parametrize("url_fixture", [
    pytest.param("amqp_url", marks=pytest.mark.broker("amqp")),
    pytest.param("redis_url", marks=pytest.mark.broker("redis"))])
def test_out_of_bounds_requests_never_cost_other_callers_their_replies(
        tmp_path: Path, url_fixture: str, request: pytest.FixtureRequest) -> None:
    """An absurd ttl or a reply_to longer than a routing key used to make RabbitMQ
    close the node's publishing connection: replies in flight to other callers were
    lost while daemon_stats counted them as sent. Now the node counts such requests
    (``outofbounds``) and drops them; every other caller gets every reply."""
    url = request.getfixturevalue(url_fixture)
    with collective_on(tmp_path, url) as collective:
        collective.add_node("n1")
        name = collective.collectives[0]
        honest, rogue = client_session(collective), client_session(collective)
        try:
            rogue.connect()
            honest.connect()  # its reply_to is known once connected
            hostile = [{"ttl": 10 ** 15}, {"reply_to": "r" * 300},
                       {"ttl": 10 * 24 * 3600}, {"sender": "s" * 300}]
            queues = []
            for round_ in range(20):
                req = honest.new_request("rpcutil", "ping", collective=name)
                queues.append((req.id, honest.expect(req.id)))
                honest.publish(req)
                send_hostile(rogue, name, **hostile[round_ % len(hostile)])
            missing = []
            for rid, replies in queues:
                deadline = time.monotonic() + 30
                got: list[Any] = []
                while not got and time.monotonic() < deadline:
                    got = replies.take(deadline - time.monotonic())
                if not got:
                    missing.append(rid)
            assert not missing, (f"{len(missing)} of 20 honest requests got no reply: "
                                 f"{[i for i, (r, _) in enumerate(queues) if r in missing]}"
                                 f"\n{collective.nodes['n1'].log()[-3000:]}")
        finally:
            honest.close()
            rogue.close()
        stats = daemon_stats(collective, "n1")
        assert stats["outofbounds"] == 20, stats
        assert stats["connector"]["stats"]["disconnects"] == 0, stats["connector"]
        assert stats["reply_errors"] == 0, stats
        assert_every_message_counted_once(stats)


def test_mco_refuses_a_ttl_above_the_maximum(tmp_path: Path) -> None:
    with LocalCollective(tmp_path) as collective:
        proc = collective.mco("ping", "--ttl", "1000000000000000", timeout=60)
        assert proc.returncode != 0
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "'ttl'" in lines[0] and "max_ttl" in lines[0], \
            proc.stderr
        assert "Traceback" not in proc.stderr
        proc = collective.mco("ping", "--ttl", "1e15", timeout=60)
        assert proc.returncode != 0 and "--ttl" in proc.stderr and \
            "Traceback" not in proc.stderr, proc.stderr


# --- fuzzing (the test-suite-sized run of bench/fuzz_hostile.py) ---------------------------


@pytest.mark.parametrize("broker", [pytest.param("amqp", marks=pytest.mark.broker("amqp")),
                                    pytest.param("redis", marks=pytest.mark.broker("redis"))])
def test_fuzzed_daemon_never_crashes_goes_deaf_or_loses_count(
        tmp_path: Path, broker: str, request: pytest.FixtureRequest) -> None:
    from mcollective.testing.fuzz import fuzz

    url = request.getfixturevalue(f"{broker}_url")
    result = fuzz(broker, url, 2000, check_every=250, root=tmp_path)
    print(result.summary())
    assert result.ok, result.summary()
    assert set(result.kinds) >= {"garbage", "oversized", "bound", "truncated", "wrong key"}
    # Bounded: a few MiB of growth at most for a few thousand messages.
    assert result.rss_end - result.rss_start < 64 * 1024 * 1024, result.summary()


# --- subscriptions refused, then allowed ----------------------------------------------------


def test_a_node_whose_subscriptions_are_refused_keeps_trying(tmp_path: Path) -> None:
    """A Redis user may not SUBSCRIBE (NOPERM) when the node starts: the node keeps
    retrying with back-off, and serves as soon as the ACL allows it. It used to give
    up (start-up failure) or, after a reconnection, drop its subscriptions for good."""
    import redis

    from mcollective.testing.brokers import RedisServer, brokers_required

    server = RedisServer()
    if not server.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server.start()
    admin = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        admin.execute_command("ACL", "SETUSER", "node", "on", ">p-node", "~*", "&nothing",
                              "+@all")
        url = f"redis://node:p-node@127.0.0.1:{server.port}/0"
        with collective_on(tmp_path, url) as collective:
            collective.write_client_config(**{
                "plugin.kombu.url": f"redis://127.0.0.1:{server.port}/0"})
            node = collective.add_node("n1", wait=False)
            deadline = time.monotonic() + 30
            while "refused the subscriptions" not in node.log() \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "refused the subscriptions" in node.log(), node.log()
            time.sleep(3)  # several attempts: still alive, still trying
            assert node.alive(), node.log()
            admin.execute_command("ACL", "SETUSER", "node", "allchannels")
            collective.wait_ready(node, timeout=60)
            wait_answering(collective, {"n1"}, 30)
    finally:
        admin.close()
        server.stop()
