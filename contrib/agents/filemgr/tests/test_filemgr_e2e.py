"""filemgr through real daemons and the real ``mco``."""

from __future__ import annotations

import json
from pathlib import Path

from mcollective.testing import LocalCollective


def _three_nodes(collective: LocalCollective) -> None:
    for identity in ("n1", "n2", "n3"):
        collective.add_node(identity)


def test_status_on_three_nodes_prints_ddl_labels(local_collective: LocalCollective) -> None:
    _three_nodes(local_collective)
    proc = local_collective.mco("rpc", "filemgr", "status", "file=/etc/hostname")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for identity in ("n1", "n2", "n3"):
        assert identity in out
    for label in ("Name:", "Present:", "Modification time:", "MD5:", "Owner:", "Type:"):
        assert label in out, label
    assert out.count("/etc/hostname") == 3
    assert "Finished processing 3 / 3 hosts" in out


def test_touch_status_remove_round_trip(local_collective: LocalCollective,
                                        tmp_path: Path) -> None:
    _three_nodes(local_collective)
    target = tmp_path / "canary"
    touched = local_collective.mco("rpc", "filemgr", "touch", f"file={target}",
                                   "--json-format", "mcollective")
    assert touched.returncode == 0, touched.stderr
    assert target.exists()
    status = local_collective.mco("rpc", "filemgr", "status", f"file={target}",
                                  "--json-format", "mcollective")
    replies = json.loads(status.stdout)
    assert len(replies) == 3
    for reply in replies:
        assert reply["statuscode"] == 0
        assert reply["data"]["present"] == 1
        assert reply["data"]["size"] == 0
        assert reply["data"]["type"] == "file"
    removed = local_collective.mco("rpc", "filemgr", "remove", f"file={target}",
                                   "--json-format", "mcollective")
    codes = sorted(r["statuscode"] for r in json.loads(removed.stdout))
    # Three nodes share this machine: one removes the file, the others find it gone.
    assert codes == [0, 1, 1]
    assert not target.exists()


def test_invalid_input_is_refused_before_sending(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    proc = local_collective.mco("rpc", "filemgr", "status", "file=")
    assert proc.returncode != 0
    assert "'file'" in proc.stderr
    unknown = local_collective.mco("rpc", "filemgr", "status", "path=/etc/hostname")
    assert unknown.returncode != 0
    assert "unknown input 'path'" in unknown.stderr


def test_relative_path_is_invalid_data_on_the_node(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    proc = local_collective.mco("rpc", "filemgr", "status", "file=etc/hostname",
                                "--json-format", "mcollective")
    [reply] = json.loads(proc.stdout)
    assert reply["statuscode"] == 4
    assert "absolute path" in reply["statusmsg"]
