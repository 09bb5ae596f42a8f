"""Where the key comes from, key file generation and permissions, configuration errors."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from psk_helpers import request

from mcollective.config import config_from_text, load_config
from mcollective.errors import ConfigError
from mcollective.security import decode_request, encode_request
from mcollective_security_psk import keys
from mcollective_security_psk.keys import KEY_FILE_NAME, create_key_file, key_id_of
from mcollective_security_psk.plugin import create_provider

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


def _config(tmp_path: Path, text: str = "", name: str = "server.cfg") -> Path:
    path = tmp_path / name
    path.write_text(f"identity = node1\nstatedir = {tmp_path / 'state'}\n{text}")
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- precedence -----------------------------------------------------------------------


def test_plugin_psk_wins_over_file(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "plugin.psk = from-config\n"), role="server")
    psk = create_provider(config, "server", environ={})
    assert psk.key_id == key_id_of(b"from-config")
    assert psk.key_source.startswith("plugin.psk (")
    assert "server.cfg:3" in psk.key_source
    assert not (tmp_path / "state").exists()  # no key file was generated


def test_environment_wins_over_plugin_psk(tmp_path: Path) -> None:
    # As MCollective's psk plugin: MCOLLECTIVE_PSK overrides the configured key.
    config = load_config(_config(tmp_path, "plugin.psk = from-config\n"), role="server")
    psk = create_provider(config, "server", environ={"MCOLLECTIVE_PSK": "from-env"})
    assert psk.key_id == key_id_of(b"from-env")
    assert psk.key_source == "environment MCOLLECTIVE_PSK"


def test_environment_is_used_without_plugin_psk(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path), role="server")
    psk = create_provider(config, "server", environ={"MCOLLECTIVE_PSK": " from-env\n"})
    assert psk.key_id == key_id_of(b"from-env")
    assert psk.key_source == "environment MCOLLECTIVE_PSK"
    assert not (tmp_path / "state").exists()


def test_environment_read_from_os_environ(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCOLLECTIVE_PSK", "process-env")
    config = load_config(_config(tmp_path), role="server")
    assert create_provider(config, "server").key_id == key_id_of(b"process-env")


def test_empty_environment_variable_is_an_error(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path), role="server")
    with pytest.raises(ConfigError, match="MCOLLECTIVE_PSK"):
        create_provider(config, "server", environ={"MCOLLECTIVE_PSK": "  "})


# --- generated key file ---------------------------------------------------------------


def test_key_is_generated_on_first_use(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    config = load_config(_config(tmp_path), role="server")
    with caplog.at_level(logging.WARNING):
        server = create_provider(config, "server", environ={})
    path = tmp_path / "state" / KEY_FILE_NAME
    content = path.read_text()
    assert len(content.strip()) == 64 and int(content, 16) >= 0
    assert content.endswith("\n")
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert server.key_id == key_id_of(content.strip().encode())
    assert str(path) in server.key_source
    assert "generated a new pre-shared key" in caplog.text
    assert list(path.parent.iterdir()) == [path]  # the temporary file is gone

    # A client using the same state directory reads the same key, never a new one.
    caplog.clear()
    client = create_provider(load_config(_config(tmp_path), role="client"), "client",
                             environ={})
    assert path.read_text() == content
    assert "generated" not in caplog.text
    assert decode_request(encode_request(request(), client), server).agent == "rpcutil"


def test_generated_key_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_key_file(tmp_path / "k")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "k") == 0o600


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "psk.key"
    path.write_text("existing\n")
    path.chmod(0o600)
    assert create_key_file(path) == b"existing"
    assert path.read_text() == "existing\n"


def test_concurrent_generation_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "state" / "psk.key"
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def make() -> None:
        barrier.wait()
        results.append(create_key_file(path))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert path.read_bytes().strip() == results[0]
    assert [p.name for p in path.parent.iterdir()] == ["psk.key"]


def test_generation_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    def no_link(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(keys.os, "link", no_link)
    secret = create_key_file(tmp_path / "psk.key")
    assert (tmp_path / "psk.key").read_bytes() == secret + b"\n"
    assert _mode(tmp_path / "psk.key") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["psk.key"]


def test_uncreatable_state_directory(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file, not a directory")
    config = load_config(_config(tmp_path), role="server")
    with pytest.raises(ConfigError, match="cannot create the pre-shared key file") as info:
        create_provider(config, "server", environ={})
    assert "plugin.psk" in str(info.value)


# --- key file permissions and content -------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o666, 0o601, 0o620, 0o610])
def test_unsafe_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "state" / KEY_FILE_NAME
    path.parent.mkdir()
    path.write_text("secret\n")
    path.chmod(mode)
    config = load_config(_config(tmp_path), role="server")
    with pytest.raises(ConfigError) as info:
        create_provider(config, "server", environ={})
    message = str(info.value)
    assert str(path) in message
    assert f"{mode:04o}" in message
    assert "chmod 600" in message


def test_group_readable_key_file_is_accepted_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "shared.key"
    path.write_text("group secret\n")
    path.chmod(0o640)
    config = load_config(_config(tmp_path, "plugin.psk.keyfile = shared.key\n"),
                         role="client")
    with caplog.at_level(logging.WARNING):
        psk = create_provider(config, "client", environ={})
    assert psk.key_id == key_id_of(b"group secret")
    assert "readable by its group" in caplog.text


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_key_file_is_accepted_quietly(tmp_path: Path, mode: int,
                                              caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "k"
    path.write_text("quiet\n")
    path.chmod(mode)
    config = load_config(_config(tmp_path, f"plugin.psk.keyfile = {path}\n"), role="client")
    with caplog.at_level(logging.WARNING):
        assert create_provider(config, "client", environ={}).key_id == key_id_of(b"quiet")
    assert caplog.text == ""


def test_configured_key_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    confdir = tmp_path / "etc"
    confdir.mkdir()
    (confdir / "psk.key").write_text("relative\n")
    (confdir / "psk.key").chmod(0o600)
    config = load_config(_config(confdir, "plugin.psk.keyfile = psk.key\n"), role="server")
    assert create_provider(config, "server", environ={}).key_id == key_id_of(b"relative")


def test_configured_key_file_is_used_before_generating(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("configured\n")
    (tmp_path / "k").chmod(0o600)
    config = load_config(_config(tmp_path, "plugin.psk.keyfile = k\n"), role="server")
    create_provider(config, "server", environ={})
    assert not (tmp_path / "state").exists()


def test_missing_configured_key_file_names_the_key(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "plugin.psk.keyfile = missing.key\n")
    with pytest.raises(ConfigError) as info:
        create_provider(load_config(cfg, role="server"), "server", environ={})
    err = info.value
    assert err.key == "plugin.psk.keyfile"
    assert err.file == str(cfg) and err.line == 3
    assert "missing.key" in str(err) and "does not exist" in str(err)
    assert not (tmp_path / "missing.key").exists()  # a configured file is never generated


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"\xff\xfe\x00"])
def test_empty_or_binary_key_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "k").write_bytes(content)
    (tmp_path / "k").chmod(0o600)
    config = load_config(_config(tmp_path, "plugin.psk.keyfile = k\n"), role="server")
    with pytest.raises(ConfigError, match="key file is"):
        create_provider(config, "server", environ={})


def test_directory_as_key_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir(mode=0o700)
    config = load_config(_config(tmp_path, "plugin.psk.keyfile = k\n"), role="server")
    with pytest.raises(ConfigError, match="not a regular file"):
        create_provider(config, "server", environ={})


# --- configuration errors name the key ------------------------------------------------


@pytest.mark.parametrize(("line", "key", "message"), [
    ("plugin.psk =", "plugin.psk", "empty"),
    ("plugin.psk.callertype = cert", "plugin.psk.callertype", "expected one of"),
    ("plugin.psk.keyfile =", "plugin.psk.keyfile", "path"),
])
def test_bad_configuration_names_file_line_and_key(tmp_path: Path, line: str, key: str,
                                                   message: str) -> None:
    cfg = _config(tmp_path, f"{line}\n")
    with pytest.raises(ConfigError, match=message) as info:
        create_provider(load_config(cfg, role="client"), "client", environ={})
    err = info.value
    assert err.key == key
    assert err.file == str(cfg)
    assert err.line == 3
    assert f"key '{key}'" in str(err)


# --- caller ids -----------------------------------------------------------------------


def test_caller_types() -> None:
    import grp
    import pwd

    def caller(kind: str) -> str:
        config = config_from_text(f"identity = node-7\nplugin.psk = s\n"
                                  f"plugin.psk.callertype = {kind}\n")
        return create_provider(config, "client", environ={}).caller_id()

    assert caller("user") == f"user={pwd.getpwuid(os.getuid()).pw_name}"
    assert caller("uid") == f"uid={os.getuid()}"
    assert caller("gid") == f"gid={os.getgid()}"
    assert caller("group") == f"group={grp.getgrgid(os.getgid()).gr_name}"
    assert caller("identity") == "identity=node-7"
    default = create_provider(config_from_text("plugin.psk = s\n"), "client", environ={})
    assert default.caller_id() == caller("user")


def test_unusable_login_name_stops_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcollective_security_psk import caller

    monkeypatch.setattr(caller, "_login_name", lambda: "John Smith")
    config = config_from_text("plugin.psk = s\n", name="client.cfg")
    with pytest.raises(ConfigError, match="uid works everywhere") as info:
        create_provider(config, "client", environ={})
    assert info.value.key == "plugin.psk.callertype"


def test_unusable_login_name_falls_back_on_a_daemon(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from mcollective_security_psk import caller

    def no_name() -> str:
        raise ValueError("cannot tell the login name")

    monkeypatch.setattr(caller, "_login_name", no_name)
    config = config_from_text("identity = web1\nplugin.psk = s\n", role="server")
    with caplog.at_level(logging.WARNING):
        psk = create_provider(config, "server", environ={})
    assert psk.caller_id() == "identity=web1"
    assert "cannot tell the login name" in caplog.text
