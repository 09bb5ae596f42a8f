"""``mco filemgr`` through real daemons and the real ``mco``."""

from __future__ import annotations

from pathlib import Path

from mcollective.testing import LocalCollective


def test_touch_status_remove(local_collective: LocalCollective, tmp_path: Path) -> None:
    for identity in ("n1", "n2"):
        local_collective.add_node(identity)
    target = tmp_path / "managed.txt"
    touched = local_collective.mco("filemgr", "touch", str(target), "-I", "n1")
    assert touched.returncode == 0, touched.stdout + touched.stderr
    assert "   n1: OK" in touched.stdout and target.exists()
    status = local_collective.mco("filemgr", "--file", str(target), "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for identity in ("n1", "n2"):
        assert f"   {identity}: {target}: present, file, 0 bytes, mode 100" in status.stdout
    details = local_collective.mco("filemgr", "status", "-f", str(target), "-d", "-I", "n1")
    assert "Modification time:" in details.stdout and "MD5:" in details.stdout

    refused = local_collective.mco("filemgr", "remove", str(target))
    assert refused.returncode == 1 and "add a filter, or -y" in refused.stderr
    assert target.exists()
    removed = local_collective.mco("filemgr", "remove", str(target), "-I", "n2")
    assert removed.returncode == 0 and not target.exists()
    gone = local_collective.mco("filemgr", "status", str(target))
    assert gone.returncode == 2
    assert f"   n1: {target} does not exist" in gone.stdout


def test_usage_errors(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    for args, text in ((("chmod", "/tmp/x"), "the action must be one of touch"),
                       (("status", "/a", "/b"), "give one file"),
                       (("status", "/a", "-f", "/b"), "give one file")):
        proc = local_collective.mco("filemgr", *args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr
    relative = local_collective.mco("filemgr", "status", "relative/path", "-I", "n1")
    assert relative.returncode != 0
