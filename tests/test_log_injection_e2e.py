"""Log injection from unauthenticated input, against a real daemon's log (issue 11,
item 6).

Values from messages that failed, or have not yet passed, verification reach the
daemon's log: the secure layer's ``security`` field when it names another plugin, a
signed request's ``sender`` when it is replayed. A newline there used to forge a whole
log line; ANSI escapes and NUL bytes went into the file as they were.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import daemon_stats

from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.message import empty_filter
from mcollective.security import encode_request
from mcollective.testing import LocalCollective

NODE = "log-target.example.net"
FORGED = "2026-01-01 00:00:00,000 ERROR   1 mcollective.forged: FORGED LINE"
HOSTILE = f"x\n{FORGED}\r\x1b[2J\x1b[31mred\x00nul\u202eevil"


@pytest.fixture(scope="module")
def collective(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCollective]:
    collective = LocalCollective(tmp_path_factory.mktemp("loginject") / "collective")
    try:
        collective.add_node(NODE)
        yield collective
    finally:
        collective.stop_all()


def publish(session: ClientSession, body: bytes) -> None:
    assert session.connector is not None
    session.connector.publish_request(body, collective="mcollective", agent="rpcutil",
                                      ttl=60, targets=[NODE])


def test_untrusted_values_cannot_forge_log_lines(collective: LocalCollective) -> None:
    before = daemon_stats(collective, NODE)
    with ClientSession(load_config(collective.client_config)) as session:
        session.connect()
        filt = empty_filter()
        filt["agent"] = ["rpcutil"]
        # 1. A secure layer naming another security plugin (fails verification).
        request = session.new_request("rpcutil", "ping", {}, filter=filt)
        envelope = json.loads(encode_request(request, session.security))
        envelope["security"] = HOSTILE
        publish(session, json.dumps(envelope).encode())
        # 2. A signed request with a hostile sender, delivered twice (the replay is
        #    logged with its sender).
        request = session.new_request("rpcutil", "ping", {}, filter=filt)
        request.sender = HOSTILE
        body = encode_request(request, session.security)
        publish(session, body)
        publish(session, body)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = daemon_stats(collective, NODE)
        if (after["unvalidated"] > before["unvalidated"]
                and after["replayed"] > before["replayed"]):
            break
        time.sleep(0.3)
    log = Path(collective.nodes[NODE].logfile).read_bytes()
    text = log.decode("utf-8")
    assert "request secured by 'x\\x0a2026-01-01" in text  # escaped, on one line
    assert "was already received" in text and "(sender x\\x0a2026" in text
    assert not any(line.startswith("2026-01-01") for line in text.splitlines())
    assert "FORGED LINE" in text
    for raw in (b"\x1b", b"\x00", b"\r", "\u202e".encode()):
        assert raw not in log, raw
