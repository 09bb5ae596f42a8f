"""process list through real daemons and the real ``mco``."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from mcollective.testing import LocalCollective


def test_list_finds_a_marked_process_on_every_node(local_collective: LocalCollective) -> None:
    for identity in ("n1", "n2", "n3"):
        local_collective.add_node(identity)
    marker = f"mco-process-e2e-{uuid.uuid4().hex}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    # The grep trick: the pattern does not match the mco command line that carries it.
    pattern = f"mco-process-e2e-[{marker[16]}]{marker[17:]}"
    try:
        out = local_collective.mco("rpc", "process", "list", f"pattern={pattern}",
                                   "--json-format", "mcollective")
        assert out.returncode == 0, out.stderr
        replies = json.loads(out.stdout)
        assert sorted(r["sender"] for r in replies) == ["n1", "n2", "n3"]
        for reply in replies:
            assert reply["statuscode"] == 0
            assert [e["pid"] for e in reply["data"]["pslist"]] == [proc.pid]
        text = local_collective.mco("rpc", "process", "list", f"pattern={pattern}")
        assert "Finished processing 3 / 3 hosts" in text.stdout
        # The process_summary aggregate of this distribution sums the three replies.
        assert "Summary of The Process List:" in text.stdout
        assert "Matched hosts: 3" in text.stdout
        assert "Matched Processes: 3" in text.stdout
    finally:
        proc.kill()
        proc.wait()


def test_bad_inputs(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    refused = local_collective.mco("rpc", "process", "list", "pattern=(a)\\1")
    assert refused.returncode != 0
    assert "'pattern': invalid regular expression" in refused.stderr
    typed = local_collective.mco("rpc", "process", "list", "just_zombies=maybe")
    assert typed.returncode != 0
    assert "'just_zombies'" in typed.stderr
    bad_regex = local_collective.mco("rpc", "process", "list", "pattern=(")
    assert bad_regex.returncode != 0  # refused by mco before sending
    assert "invalid regular expression /(/" in bad_regex.stderr
