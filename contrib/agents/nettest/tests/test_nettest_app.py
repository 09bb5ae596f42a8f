"""``mco nettest`` through real daemons and the real ``mco``, against a socket this test
listens on (the ``listener`` fixture)."""

from __future__ import annotations

import re

from mcollective.testing import LocalCollective


def test_connect_and_ping(local_collective: LocalCollective, listener: int) -> None:
    for identity in ("n1", "n2"):
        local_collective.add_node(identity)
    for words in (("127.0.0.1", str(listener)), (f"127.0.0.1:{listener}",)):
        proc = local_collective.mco("nettest", "connect", *words)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for identity in ("n1", "n2"):
            assert re.search(rf"^   {identity}: Connected, time = [\d.]+ ms$", proc.stdout,
                             re.M), proc.stdout
        assert "Summary of Connection Status:" in proc.stdout
        assert "   Connected = 2" in proc.stdout
    ping = local_collective.mco("nettest", "ping", "127.0.0.1")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert re.search(r"^   n1: time = [\d.]+ ms$", ping.stdout, re.M), ping.stdout
    assert "Summary of RTT:" in ping.stdout


def test_usage_errors(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    for args, text in ((("connect", "127.0.0.1"), "connect needs a host and a port"),
                       (("connect", "127.0.0.1", "99999"), "from 1 to 65535"),
                       (("ping", "a", "b"), "ping needs one host")):
        proc = local_collective.mco("nettest", *args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr
