"""Several collectives: a daemon answers in each it belongs to, -T picks one."""

from __future__ import annotations

from pathlib import Path

from fleet import lines, ok

from mcollective.testing import LocalCollective


def test_target_picks_a_collective(tmp_path: Path) -> None:
    with LocalCollective(tmp_path / "c", collectives=("mcollective", "uk", "de")) as c:
        c.add_node("london", collectives=["mcollective", "uk"], wait=False)
        c.add_node("berlin", collectives=["mcollective", "de"], wait=False)
        c.add_node("both", collectives=["uk", "de"], wait=False)
        for node in c.nodes.values():
            c.wait_ready(node)
        assert lines(ok(c.mco("find"))) == ["berlin", "london"]
        assert lines(ok(c.mco("find", "-T", "uk"))) == ["both", "london"]
        assert lines(ok(c.mco("find", "-T", "de"))) == ["berlin", "both"]
        proc = ok(c.mco("rpc", "rpcutil", "collective_info", "-T", "uk", "-I", "both",
                        "--json-format", "mcollective"))
        assert '"main_collective": "uk"' in proc.stdout
        bad = c.mco("find", "-T", "fr")
        assert bad.returncode == 1 and "not one of the configured collectives" in bad.stderr
