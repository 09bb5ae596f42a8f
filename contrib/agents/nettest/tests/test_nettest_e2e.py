"""nettest through real daemons and the real ``mco``."""

from __future__ import annotations

import json
import socket

from mcollective.testing import LocalCollective


def test_connect_from_three_nodes(local_collective: LocalCollective) -> None:
    for identity in ("n1", "n2", "n3"):
        local_collective.add_node(identity)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]
        proc = local_collective.mco("rpc", "nettest", "connect", "fqdn=127.0.0.1",
                                    f"port={port}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count("Connection Status: Connected") == 3
        assert "Finished processing 3 / 3 hosts" in proc.stdout
        as_json = local_collective.mco("rpc", "nettest", "connect", "fqdn=127.0.0.1",
                                       f"port={port}", "--json-format", "mcollective")
        replies = json.loads(as_json.stdout)
        assert [r["data"]["connect"] for r in replies] == [True, True, True]
        assert all(isinstance(r["data"]["connect_time"], float) for r in replies)


def test_ping_and_bad_input(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    proc = local_collective.mco("rpc", "nettest", "ping", "fqdn=127.0.0.1",
                                "--json-format", "mcollective")
    [reply] = json.loads(proc.stdout)
    assert reply["statuscode"] == 0, reply["statusmsg"]
    assert isinstance(reply["data"]["rtt"], float)
    text = local_collective.mco("rpc", "nettest", "ping", "fqdn=127.0.0.1")
    assert "RTT:" in text.stdout
    assert "Summary of RTT:" in text.stdout  # the nettest_mma aggregate
    assert "Average:" in text.stdout
    # The nettest_fqdn validator runs in the client before anything is sent.
    bad = local_collective.mco("rpc", "nettest", "ping", "fqdn=not a host")
    assert bad.returncode != 0
    assert "'fqdn'" in bad.stderr
    port = local_collective.mco("rpc", "nettest", "connect", "fqdn=127.0.0.1", "port=http")
    assert port.returncode != 0
    assert "'port'" in port.stderr
