"""Nothing is lost on the embedded default: many sequential calls, every reply."""

from __future__ import annotations

import json

import pytest
from fleet import start_fleet

from mcollective.testing import LocalCollective


@pytest.mark.slow
def test_200_sequential_mco_rpc_calls_get_every_reply(local_collective: LocalCollective
                                                       ) -> None:
    start_fleet(local_collective)
    missing = []
    for i in range(200):
        proc = local_collective.mco("rpc", "rpcutil", "ping", "--json-format", "mcollective")
        replies = json.loads(proc.stdout) if proc.returncode == 0 else []
        senders = sorted(r["sender"] for r in replies if r["statuscode"] == 0)
        if proc.returncode != 0 or len(senders) != 3:
            missing.append((i, proc.returncode, senders, proc.stderr[-300:]))
    assert missing == []
