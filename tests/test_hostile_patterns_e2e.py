"""Hostile regular expressions against real daemons (issue 11, item 2).

Every pattern in :mod:`mcollective.testing.hostile_patterns` makes Python's backtracking
``re`` run for minutes on the texts a node matches (identities over twenty characters,
md5 sums, command lines). Before RE2, one such broadcast kept a node's consumer busy far
longer than any of these tests wait, and the process agent froze the daemon outright.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from fleet import daemon_stats, ok

from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.testing import LocalCollective
from mcollective.testing.brokers import require_broker
from mcollective.testing.collective import _script
from mcollective.testing.hostile_patterns import (
    PATTERNS,
    check_answers_under_hostile_patterns,
)

#: Long identities and values: a backtracking engine's cost grows exponentially with them.
NODES = {
    "hostile-target-alpha.example.net": ["webserver_frontend_role", "base_profile_class"],
    "hostile-target-bravo.example.net": ["database_backend_role", "base_profile_class"],
}
FACTS = {"hostile_fact": "a-rather-long-fact-value-for-matching",
         "os": {"family": "Debian-GNU-Linux-bookworm"}}


def start_nodes(collective: LocalCollective) -> None:
    for identity, classes in NODES.items():
        collective.add_node(identity, facts=FACTS, classes=classes, wait=False)
    for node in collective.nodes.values():
        collective.wait_ready(node)


@pytest.fixture(scope="module")
def collective(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCollective]:
    collective = LocalCollective(tmp_path_factory.mktemp("hostile") / "collective")
    try:
        start_nodes(collective)
        yield collective
    finally:
        collective.stop_all()


@pytest.fixture(params=["filesystem", pytest.param("amqp", marks=pytest.mark.broker("amqp")),
                        pytest.param("redis", marks=pytest.mark.broker("redis")),
                        pytest.param("nats", marks=pytest.mark.broker("nats"))])
def any_transport(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  collective: LocalCollective) -> Iterator[LocalCollective]:
    """The embedded transport's collective (shared with the other tests), or a fresh one
    on RabbitMQ, Redis (kombu) or NATS with a collective name of its own."""
    if request.param == "filesystem":
        yield collective
        return
    url = require_broker(request.param)
    other = LocalCollective(tmp_path_factory.mktemp(f"hostile-{request.param}") / "c",
                            collectives=(f"hostile{uuid.uuid4().hex[:10]}",),
                            connector_url=url,
                            connector="nats" if request.param == "nats" else "kombu")
    try:
        start_nodes(other)
        yield other
    finally:
        other.stop_all()


def test_pings_are_answered_while_hostile_patterns_flood_the_nodes(
        any_transport: LocalCollective) -> None:
    """Every filter position and the process agent's ``pattern``, each pattern twice,
    while five ping broadcasts run: every ping gets every reply. The bound asserted is
    generous for a busy test machine; the report prints what was measured (the goal is
    2 s)."""
    collective = any_transport
    before = {i: daemon_stats(collective, i) for i in NODES}
    with ClientSession(load_config(collective.client_config)) as session:
        session.connect()
        report = check_answers_under_hostile_patterns(session, list(NODES), rounds=5,
                                                      ping_timeout=20.0)
    print(report.describe())
    assert report.every_ping_answered_within(15.0), report.describe()
    assert sum(report.sent.values()) >= len(PATTERNS) * 9
    for identity in NODES:
        after = daemon_stats(collective, identity)
        # Every hostile filter was evaluated (and matched nothing): counted as filtered.
        assert after["filtered"] - before[identity]["filtered"] >= len(PATTERNS) * 9
        assert collective.nodes[identity].alive()


def test_process_pattern_cannot_freeze_the_daemon(collective: LocalCollective) -> None:
    """``process list`` with a catastrophic pattern answers (no match) and the daemon
    still stops on SIGTERM; before RE2 the match held the GIL for minutes."""
    identity = next(iter(NODES))
    proc = ok(collective.mco("rpc", "process", "list", f"pattern={PATTERNS[0]}",
                             "-I", identity, "--json-format", "mcollective", timeout=120))
    [reply] = json.loads(proc.stdout)
    assert reply["statuscode"] == 0 and reply["data"]["pslist"] == [], reply
    # A second node, to be stopped with SIGTERM while a pathological search runs.
    victim = collective.add_node("hostile-victim-charlie.example.net", facts=FACTS)
    try:
        mco = subprocess.Popen(
            [*_script("mco"), "rpc", "-c", str(collective.client_config), "process", "list",
             f"pattern={PATTERNS[1]}", "-I", victim.identity, "--json-format", "mcollective"],
            env=collective.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
        time.sleep(1.0)
        started = time.monotonic()
        victim.signal(signal.SIGTERM)
        assert victim.process is not None
        victim.process.wait(60)
        assert time.monotonic() - started < 60
        mco.communicate(timeout=120)
    finally:
        victim.stop()
        del collective.nodes[victim.identity]


@pytest.mark.parametrize(("args", "what"), [
    (["find", "-I", "/(a)\\1/"], "invalid regular expression"),
    (["find", "-F", "os=~/(?=Debian)/"], "invalid regular expression"),
    (["find", "-S", "fact('os').value=~/(?<!x)y/"], "invalid regular expression"),
    (["rpc", "process", "list", "pattern=(a)\\1"], "invalid regular expression"),
])
def test_client_refuses_patterns_it_cannot_honour(collective: LocalCollective,
                                                  args: list[str], what: str) -> None:
    """A pattern RE2 cannot run (backreferences, lookarounds) is refused by ``mco``
    before anything is sent, with one line naming it."""
    identity = next(iter(NODES))
    before = daemon_stats(collective, identity)["total"]
    proc = collective.mco(*args, timeout=60)
    assert proc.returncode != 0, proc.stdout
    assert what in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if what in line]
    assert len(error_lines) == 1, proc.stderr
    # Nothing reached the node but our own daemon_stats call.
    assert daemon_stats(collective, identity)["total"] == before + 1


def test_node_refuses_unsupported_patterns_sent_anyway(collective: LocalCollective) -> None:
    """A client that skips the check (any raw publisher) gets nothing back: the node
    counts the request as filtered and logs one line naming the pattern."""
    identity = next(iter(NODES))
    before = daemon_stats(collective, identity)
    with ClientSession(load_config(collective.client_config)) as session:
        session.connect()
        filt = {"fact": [], "cf_class": ["/(a)\\1/"], "agent": [], "identity": [],
                "compound": []}
        request = session.new_request("rpcutil", "ping", {}, filter=filt)
        replies = session.expect(request.id)
        session.publish(request)
        assert replies.take(3.0) == []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = daemon_stats(collective, identity)
        if after["filtered"] > before["filtered"]:
            break
        time.sleep(0.3)
    assert after["filtered"] > before["filtered"]
    log = collective.nodes[identity].log()
    assert f"request {request.id} has an unusable filter: invalid regular expression" in log


def test_engine_is_re2_here() -> None:
    """The suite above proves linear time only with RE2; the fallback is tested in
    core/tests/test_regex.py."""
    from mcollective import regex

    assert os.environ.get("MCOLLECTIVE_REGEX_ENGINE") != "python"
    assert regex.engine() == "re2"
