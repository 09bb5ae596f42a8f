"""The filemgr actions against real files in a temporary directory."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest

from mcollective.errors import DDLValidationError
from mcollective_agent_filemgr import DEFAULT_TOUCH_FILE


def test_status_of_a_regular_file(make_agent, call, tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_bytes(b"hello fleet\n")
    os.chmod(target, 0o640)
    reply = call(make_agent(), "status", file=str(target))
    assert reply.statuscode == 0, reply.statusmsg
    st = target.stat()
    assert reply["name"] == str(target)
    assert reply["present"] == 1
    assert reply["output"] == "present"
    assert reply["type"] == "file"
    assert reply["size"] == 12
    assert reply["mode"] == "100640"
    assert reply["md5"] == hashlib.md5(b"hello fleet\n").hexdigest()
    assert reply["uid"] == st.st_uid and reply["gid"] == st.st_gid
    assert reply["mtime_seconds"] == int(st.st_mtime)
    assert isinstance(reply["atime_seconds"], int)
    assert reply["mtime"] == time.strftime("%Y-%m-%d %H:%M:%S %z",
                                           time.localtime(st.st_mtime))
    assert reply["dir_listing"] is None


def test_status_of_a_directory_with_listing(make_agent, call, tmp_path: Path) -> None:
    for name in ("b", "a", ".hidden"):
        (tmp_path / name).touch()
    reply = call(make_agent(), "status", file=str(tmp_path), dirlist=True)
    assert reply.statuscode == 0
    assert reply["type"] == "directory"
    assert reply["md5"] is None
    assert reply["dir_listing"] == [".hidden", "a", "b"]
    without = call(make_agent(), "status", file=str(tmp_path))
    assert without["dir_listing"] is None


def test_status_describes_a_symlink_not_its_target(make_agent, call, tmp_path: Path) -> None:
    (tmp_path / "target").write_text("x" * 100)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target")
    reply = call(make_agent(), "status", file=str(link))
    assert reply["type"] == "symlink"
    assert reply["md5"] is None
    assert reply["mode"].startswith("120")


def test_status_of_special_files(make_agent, call, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert call(make_agent(), "status", file=str(fifo))["type"] == "fifo"
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        assert call(make_agent(), "status", file=str(sock_path))["type"] == "socket"
    assert call(make_agent(), "status", file="/dev/null")["type"] == "chardev"


def test_status_of_a_missing_file_fails_but_says_not_present(make_agent, call, tmp_path) -> None:
    missing = tmp_path / "nope"
    reply = call(make_agent(), "status", file=str(missing))
    assert reply.statuscode == 1
    assert reply.statusmsg == f"{missing} does not exist"
    assert reply["present"] == 0
    assert reply["output"] == "not present"
    assert reply["name"] == str(missing)


def test_touch_creates_then_updates(make_agent, call, tmp_path: Path) -> None:
    target = tmp_path / "touched"
    agent = make_agent()
    assert call(agent, "touch", file=str(target)).statuscode == 0
    assert target.is_file() and target.stat().st_size == 0
    os.utime(target, (1_000_000, 1_000_000))
    assert call(agent, "touch", file=str(target)).statuscode == 0
    assert target.stat().st_mtime > 1_000_000 + 86400


def test_touch_in_a_missing_directory_fails_with_the_reason(make_agent, call, tmp_path) -> None:
    reply = call(make_agent(), "touch", file=str(tmp_path / "no" / "such" / "dir"))
    assert reply.statuscode == 1
    assert "Could not touch file" in reply.statusmsg
    assert "No such file or directory" in reply.statusmsg


def test_remove(make_agent, call, tmp_path: Path) -> None:
    target = tmp_path / "gone"
    target.write_text("bye")
    agent = make_agent()
    assert call(agent, "remove", file=str(target)).statuscode == 0
    assert not target.exists()
    again = call(agent, "remove", file=str(target))
    assert again.statuscode == 1
    assert again.statusmsg == f"Could not remove file '{target}' - it is not present"


def test_remove_refuses_directories(make_agent, call, tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir()
    reply = call(make_agent(), "remove", file=str(directory))
    assert reply.statuscode == 1
    assert directory.is_dir()


def test_remove_a_dangling_symlink(make_agent, call, tmp_path: Path) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    assert call(make_agent(), "remove", file=str(link)).statuscode == 0
    assert not os.path.lexists(link)


def test_actions_default_to_the_configured_touch_file(make_agent, call, tmp_path: Path) -> None:
    target = tmp_path / "canary"
    agent = make_agent(f"plugin.filemgr.touch_file = {target}\n")
    assert call(agent, "touch").statuscode == 0
    assert target.exists()
    assert call(agent, "status")["name"] == str(target)
    assert call(agent, "remove").statuscode == 0
    assert not target.exists()


def test_default_touch_file_without_configuration(make_agent) -> None:
    assert make_agent().touch_file == DEFAULT_TOUCH_FILE


def test_relative_paths_are_invalid(make_agent, call) -> None:
    reply = call(make_agent(), "status", file="etc/hostname")
    assert reply.statuscode == 4
    assert "absolute path" in reply.statusmsg


def test_unknown_plugin_setting_warns_and_the_agent_loads(make_agent, caplog) -> None:
    # An unknown key under the plugin's namespace (a setting of another version) must not
    # stop the agent from loading; it is named in a warning.
    with caplog.at_level("WARNING", logger="mcollective.config"):
        assert make_agent("plugin.filemgr.touchfile = /tmp/x\n") is not None
    assert "ignoring unknown key 'plugin.filemgr.touchfile'" in caplog.text


def test_md5_gives_up_before_the_deadline(make_agent, call, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"\0" * (3 << 20))
    reply = call(make_agent(), "status", file=str(big), action_timeout=0.1)
    assert reply.statuscode == 1
    assert "within the agent's 0.1 second limit" in reply.statusmsg


def test_ddl_rejects_empty_and_overlong_paths(make_agent, call) -> None:
    with pytest.raises(DDLValidationError, match="'file'"):
        call(make_agent(), "status", file="")
    with pytest.raises(DDLValidationError, match="'file'"):
        call(make_agent(), "status", file="/" + "x" * 300)
