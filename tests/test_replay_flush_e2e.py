"""The replay cache cannot be flushed, nor reopened by a restart (issue 11, item 3).

A real daemon with the jwt security plugin. ``alice`` holds the smallest useful token
(``rpcutil.ping`` only); ``admin`` may call anything. An attacker who captured one of
admin's signed requests off the middleware, and who holds alice's credentials, tries to
make the node forget that request id and run it a second time:

* by filling the replay cache with alice's own long-lived pings (before the fix the full
  cache evicted the id nearest expiry: admin's);
* by waiting for the daemon to restart, cleanly or after a crash.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fleet import daemon_stats

from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.message import Request, empty_filter
from mcollective.security import encode_request
from mcollective.server.replay import JOURNAL_AHEAD
from mcollective.testing import LocalCollective
from mcollective_security_jwt import keys, tokens

NODE = "replay-target.example.net"
HOUR = timedelta(hours=1)
CACHE = 40
PER_CALLER = 10


class Fleet:
    def __init__(self, collective: LocalCollective, *, small_cache: bool = True) -> None:
        self.collective = collective
        pki = collective.root / "pki"
        pki.mkdir()
        self.pki = pki
        self.issuer = keys.generate()
        issuer_pub = keys.write_key_pair(pki / "issuer.key", self.issuer)
        collective.extra_config = {"securityprovider": "jwt", "plugin.psk": None,
                                   "plugin.jwt.issuer_public_key": str(issuer_pub)}
        key = keys.generate()
        token = tokens.issue_server(self.issuer, identity=NODE, collectives=["mcollective"],
                                    public_key=keys.public_hex(key), validity=HOUR)
        key_path, token_path = self._write(NODE, key, token)
        cache = ({"replay_cache_size": CACHE, "replay_cache_per_caller": PER_CALLER}
                 if small_cache else {})
        self.node = collective.add_node(NODE, settings={
            "plugin.jwt.private_key": str(key_path), "plugin.jwt.token": str(token_path),
            **cache,
        })
        self.alice = ClientSession(load_config(self.client("alice", ("rpcutil.ping",))))
        admin_cfg = self.client("admin", ("*",))
        collective.client_config = admin_cfg
        self.admin = ClientSession(load_config(admin_cfg))
        self.alice.connect()
        self.admin.connect()

    def _write(self, name: str, key: Any, token: str) -> tuple[Path, Path]:
        key_path = self.pki / f"{name}.key"
        keys.write_key_pair(key_path, key)
        token_path = self.pki / f"{name}.token"
        token_path.write_text(token + "\n", encoding="utf-8")
        return key_path, token_path

    def client(self, name: str, agents: tuple[str, ...]) -> Path:
        key = keys.generate()
        token = tokens.issue_client(self.issuer, callerid=f"jwt={name}", agents=agents,
                                    public_key=keys.public_hex(key), validity=HOUR)
        key_path, token_path = self._write(name, key, token)
        return self.collective.write_client_config(f"{name}.cfg", **{
            "plugin.jwt.private_key": str(key_path), "plugin.jwt.token": str(token_path)})

    def captured_admin_request(self) -> tuple[Request, bytes]:
        """A genuine admin request, signed, sent once and answered: the bytes an
        attacker on the middleware captures."""
        flt = empty_filter()
        flt["identity"] = [NODE]
        request = self.admin.new_request("rpcutil", "inventory", {}, filter=flt, ttl=600)
        body = encode_request(request, self.admin.security)
        assert self.send(self.admin, request, body) == 1
        return request, body

    def send(self, session: ClientSession, request: Request, body: bytes,
             wait: float = 5.0) -> int:
        """Publish raw bytes for ``request``; how many replies came back."""
        replies = session.expect(request.id)
        assert session.connector is not None
        session.connector.publish_request(body, collective="mcollective",
                                          agent=request.agent, ttl=600, targets=[NODE])
        got = replies.take(wait)
        session.forget(request.id)
        return len(got)

    def stats(self) -> dict[str, Any]:
        return daemon_stats(self.collective, NODE)

    def restart(self, signum: int) -> None:
        self.node.signal(signum)
        assert self.node.process is not None
        self.node.process.wait(30)
        self.collective.start(self.node)
        # After a crash the node refuses every request sent before its start plus
        # JOURNAL_AHEAD (replay.py), the tests' own included: an mco that starts in a
        # tenth of a second would send its request inside that window.
        time.sleep(JOURNAL_AHEAD + 0.1)

    def close(self) -> None:
        self.alice.close()
        self.admin.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    collective = LocalCollective(tmp_path / "collective")
    try:
        fleet = Fleet(collective)
        yield fleet
        fleet.close()
    finally:
        collective.stop_all()


def test_low_privileged_caller_cannot_flush_the_cache(fleet: Fleet) -> None:
    request, body = fleet.captured_admin_request()
    # alice fills the cache with long-lived pings, far more than it holds.
    answered = 0
    for _ in range(CACHE + 10):
        ping = fleet.alice.new_request("rpcutil", "ping", {}, ttl=3600)
        answered += fleet.send(fleet.alice, ping, encode_request(ping, fleet.alice.security),
                               wait=0.5)
    assert answered >= PER_CALLER  # her share was served
    before = fleet.stats()
    assert before["replayfull"] >= CACHE + 10 - PER_CALLER
    # The captured admin request is still remembered: the replay gets no reply.
    assert fleet.send(fleet.admin, request, body, wait=3.0) == 0
    after = fleet.stats()
    assert after["replayed"] == before["replayed"] + 1
    assert after["passed"] == before["passed"] + 1  # only our daemon_stats call
    # Other callers are not refused because alice used up her share.
    ping = fleet.admin.new_request("rpcutil", "ping", {}, ttl=60)
    assert fleet.send(fleet.admin, ping, encode_request(ping, fleet.admin.security)) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "crash"])
def test_restart_does_not_reopen_the_replay_window(fleet: Fleet, signum: int) -> None:
    """After a clean stop the saved cache still knows the id (``replayed``); after a
    crash the node refuses every request sent before it started (``ttlexpired``)."""
    request, body = fleet.captured_admin_request()
    time.sleep(1.1)  # the restart's start time is later than the request's
    fleet.restart(signum)
    before = fleet.stats()
    assert fleet.send(fleet.admin, request, body, wait=3.0) == 0
    after = fleet.stats()
    counter = "replayed" if signum == signal.SIGTERM else "ttlexpired"
    assert after[counter] == before[counter] + 1
    # New requests are served as usual.
    ping = fleet.admin.new_request("rpcutil", "ping", {}, ttl=60)
    assert fleet.send(fleet.admin, ping, encode_request(ping, fleet.admin.security)) == 1
    if signum == signal.SIGKILL:
        assert "previous run's replay cache was lost" in fleet.node.log()


def test_crash_does_not_reopen_the_window_for_a_fast_clock(fleet: Fleet) -> None:
    """A client whose clock is 20 s ahead (within ``clock_skew``): its request carries a
    time after the node's restart, so refusing what was sent before the start does not
    cover it. The node journalled it when it accepted it, and remembers it after a
    crash (``replayed``)."""
    flt = empty_filter()
    flt["identity"] = [NODE]
    request = fleet.admin.new_request("rpcutil", "inventory", {}, filter=flt, ttl=600)
    request.time = round(time.time() + 20, 3)
    body = encode_request(request, fleet.admin.security)
    assert fleet.send(fleet.admin, request, body) == 1
    fleet.restart(signal.SIGKILL)
    before = fleet.stats()
    assert fleet.send(fleet.admin, request, body, wait=3.0) == 0
    after = fleet.stats()
    assert after["replayed"] == before["replayed"] + 1, (before, after)


def test_smallest_token_cannot_stall_a_node_with_patterns(tmp_path: Path) -> None:
    """alice (``rpcutil.ping`` only) floods every filter position with catastrophic
    patterns — filters run before authorization, so her token is enough — while she
    pings: every ping is answered (RE2, issue 11 item 2)."""
    from mcollective.testing.hostile_patterns import check_answers_under_hostile_patterns

    collective = LocalCollective(tmp_path / "collective")
    try:
        fleet = Fleet(collective, small_cache=False)
        try:
            report = check_answers_under_hostile_patterns(fleet.alice, [NODE], rounds=3,
                                                          agents=())
        finally:
            fleet.close()
        print(report.describe())
        assert report.every_ping_answered_within(15.0), report.describe()
        stats = daemon_stats(collective, NODE)
        assert stats["filtered"] >= sum(report.sent.values())
    finally:
        collective.stop_all()
