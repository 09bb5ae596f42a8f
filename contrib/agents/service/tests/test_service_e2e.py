"""The service agent through real daemons and the real ``mco``."""

from __future__ import annotations

import json

from mcollective.testing import LocalCollective
from mcollective_agent_service.systemd import systemd_running


def test_status_on_three_nodes(local_collective: LocalCollective) -> None:
    # systemd asked for explicitly: where it does not run, the refusal is checked end to
    # end (test_service_app.py drives the SysV fallback).
    for identity in ("n1", "n2", "n3"):
        local_collective.add_node(identity, settings={"plugin.service.provider": "systemd"})
    proc = local_collective.mco("rpc", "service", "status", "service=cron")
    assert "Finished processing 3 / 3 hosts" in proc.stdout, proc.stdout + proc.stderr
    replies = json.loads(local_collective.mco("rpc", "service", "status", "service=cron",
                                              "--json-format", "mcollective").stdout)
    assert len(replies) == 3
    for reply in replies:
        if systemd_running():
            assert reply["data"]["status"] in ("running", "stopped") \
                or "Could not find service" in reply["statusmsg"]
        else:
            assert reply["statuscode"] == 1
            assert "systemd is not running" in reply["statusmsg"]
            assert reply["data"]["status"] == "unknown"
    if not systemd_running():
        assert proc.returncode == 2
        assert proc.stdout.count("Request Aborted") == 3
        assert proc.stdout.count("systemd is not running on this node") == 3


def test_invalid_service_name_is_refused_by_the_client(local_collective) -> None:
    local_collective.add_node("n1")
    proc = local_collective.mco("rpc", "service", "restart", "service=--all")
    assert proc.returncode != 0
    assert "'service'" in proc.stderr
    missing = local_collective.mco("rpc", "service", "restart")
    assert missing.returncode != 0
    assert "service" in missing.stderr
