"""The classic configuration format: parsing, validation, errors naming file/line/key."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mcollective.config import Config, config_from_text, find_config, integer, load_config
from mcollective.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_work_without_any_file() -> None:
    config = Config(environ={})
    assert config.connector == "kombu"
    assert config.securityprovider == "psk"
    assert config.collectives == ["mcollective"]
    assert config.main_collective == "mcollective"
    assert config.ttl == 60
    assert config.direct_addressing is True
    assert config.direct_addressing_threshold == 10
    assert config.identity


def test_classic_format(tmp_path: Path) -> None:
    cfg = write(tmp_path / "server.cfg", """
# a comment
identity = node1.example.com
collectives = mcollective, uk_collective
main_collective = mcollective
ttl = 30
registerinterval = 300
direct_addressing = no
rpcaudit = 1
rpcauditprovider = logfile
plugin.psk = s3cret
plugin.kombu.url = memory://
libdir = /usr/libexec/mcollective:/opt/mco
libdir = /srv/mco
""")
    config = load_config(cfg, role="server", environ={})
    assert config.identity == "node1.example.com"
    assert config.collectives == ["mcollective", "uk_collective"]
    assert config.ttl == 30
    assert config.direct_addressing is False
    assert config.rpcauditprovider == ["logfile"]
    assert config.libdir == ["/usr/libexec/mcollective", "/opt/mco", "/srv/mco"]
    assert config.plugin_config("psk", {"": str}) == {"": "s3cret"}
    assert config.plugin_config("kombu", {"url": str}) == {"url": "memory://"}
    assert config.path == cfg


def test_plugin_d_fragments(tmp_path: Path) -> None:
    cfg = write(tmp_path / "server.cfg", "identity = n1\n")
    (tmp_path / "plugin.d").mkdir()
    write(tmp_path / "plugin.d" / "kombu.cfg", "url = filesystem:///tmp/x\n")
    config = load_config(cfg, role="server", environ={})
    assert config.plugin_config("kombu", {"url": str}) == {"url": "filesystem:///tmp/x"}
    assert config.source("plugin.kombu.url").file.endswith("plugin.d/kombu.cfg")


@pytest.mark.parametrize(("text", "line", "key", "words"), [
    ("identity = a\nidentty = b\n", 2, "identty", "did you mean 'identity'"),
    ("ttl = sixty\n", 1, "ttl", "expected an integer"),
    ("direct_addressing = maybe\n", 1, "direct_addressing", "expected a boolean"),
    ("identity = has space\n", 1, "identity", "must match"),
    ("loglevel = loud\n", 1, "loglevel", "expected one of"),
    ("collectives = a\nmain_collective = b\n", 2, "main_collective", "not one of"),
    ("libdir = relative/path\n", 1, "libdir", "absolute"),
    ("publish_timeout = nan\n", 1, "publish_timeout", "expected a finite number"),
    ("discovery_timeout = inf\n", 1, "discovery_timeout", "expected a finite number"),
    ("clock_skew = -Infinity\n", 1, "clock_skew", "expected a finite number"),
])
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, line: int,
                                       key: str | None, words: str) -> None:
    cfg = write(tmp_path / "client.cfg", text)
    with pytest.raises(ConfigError) as info:
        load_config(cfg, environ={})
    message = str(info.value)
    assert message.startswith(f"{cfg}:{line}: ")
    if key:
        assert f"key '{key}'" in message
    assert words in message


def test_unknown_plugin_key_warns_and_is_ignored(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # MCollective let each plugin read the keys it knows; a key meant for another version
    # of the plugin must not stop it from loading. Warned once, with file, line and a hint.
    cfg = write(tmp_path / "client.cfg", "plugin.kombu.ulr = memory://\n"
                "plugin.kombu.url = filesystem:///tmp/x\n")
    config = load_config(cfg, environ={})
    with caplog.at_level(logging.WARNING, logger="mcollective.config"):
        assert config.plugin_config("kombu", {"url": str}) == {"url": "filesystem:///tmp/x"}
        assert config.plugin_config("kombu", {"url": str}) == {"url": "filesystem:///tmp/x"}
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [f"{cfg}:1: ignoring unknown key 'plugin.kombu.ulr' for plugin "
                        "'kombu' (did you mean 'plugin.kombu.url'?)"]


def test_bad_plugin_value_is_still_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "client.cfg", "plugin.x.count = many\n")
    config = load_config(cfg, environ={})
    with pytest.raises(ConfigError, match=r"client.cfg:1: key 'plugin.x.count': expected an "
                       "integer"):
        config.plugin_config("x", {"count": integer()})


def test_lines_without_equals_are_skipped_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A server.cfg templated from YAML often keeps its '---' header; MCollective's parser
    # skipped lines that were not 'key = value'.
    cfg = write(tmp_path / "server.cfg", "---\nidentity = n1\njust some words\n")
    with caplog.at_level(logging.WARNING, logger="mcollective.config"):
        config = load_config(cfg, role="server", environ={})
    assert config.identity == "n1"
    text = caplog.text
    assert f"{cfg}:1: ignoring line without '='" in text and "'---'" in text
    assert f"{cfg}:3: ignoring line without '='" in text


def test_missing_explicit_file() -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config("/nonexistent/client.cfg")


def test_search_order_prefers_user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_config("client") in (None, Path("/etc/puppetlabs/mcollective/client.cfg"),
                                     Path("/etc/mcollective/client.cfg"))
    user = write(tmp_path / ".mcollective", "identity = me\n")
    assert find_config("client") == user


def test_environment_overrides() -> None:
    config = config_from_text("ttl = 30\n", environ={"MCOLLECTIVE_TTL": "45"})
    assert config.ttl == 45
    with pytest.raises(ConfigError, match="environment MCOLLECTIVE_TTL: key 'ttl'"):
        config_from_text("", environ={"MCOLLECTIVE_TTL": "x"})


def test_main_collective_defaults_to_first_collective() -> None:
    # Deliberate fix: the original kept 'mcollective' here.
    config = config_from_text("collectives = uk, de\n")
    assert config.main_collective == "uk"
    assert config.registration_collective == "uk"


def test_agent_activation() -> None:
    config = config_from_text("activate_agents = 0\nplugin.rpcutil.activate_agent = yes\n")
    assert config.agent_enabled("rpcutil") is True
    assert config.agent_enabled("shell") is False


def test_deprecated_keys_warn(caplog: pytest.LogCaptureFixture) -> None:
    config_from_text("topicprefix = /topic/\n")
    assert "ignored" in caplog.text


def test_relative_paths_resolve_beside_config(tmp_path: Path) -> None:
    cfg = write(tmp_path / "server.cfg", "identity = x\n")
    config = load_config(cfg, role="server", environ={})
    assert config.resolve_path("facts.yaml") == tmp_path / "facts.yaml"
    assert config.resolve_path("/abs/facts.yaml") == Path("/abs/facts.yaml")


def test_statedir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MCOLLECTIVE_STATEDIR", str(tmp_path / "s"))
    assert Config(environ=os.environ).statedir == tmp_path / "s"


@pytest.mark.parametrize(("environ", "root", "expected"), [
    ({"MCOLLECTIVE_STATEDIR": "/srv/mco"}, True, "/srv/mco"),
    # systemd's StateDirectory= (several directories: the first is ours)
    ({"STATE_DIRECTORY": "/var/lib/mcollective:/var/lib/other"}, True, "/var/lib/mcollective"),
    ({"XDG_STATE_HOME": "/tmp/xdg"}, True, "/tmp/xdg/mcollective"),
    ({}, True, "/var/lib/mcollective"),
    ({"HOME": "/home/alice"}, False, "/home/alice/.local/state/mcollective"),
])
def test_default_statedir(environ: dict[str, str], root: bool, expected: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A root daemon keeps its state (and generated key) in /var/lib/mcollective, not
    /root/.local/state; other users keep the XDG defaults. geteuid is replaced because
    the test cannot change who runs it."""
    from mcollective.config import default_statedir

    monkeypatch.setattr(os, "geteuid", lambda: 0 if root else 1000)
    monkeypatch.setenv("HOME", environ.get("HOME", "/root"))
    assert default_statedir(environ) == Path(expected)


@pytest.mark.parametrize(("role", "text", "expected"), [
    ("server", "", float("inf")),
    ("client", "", 10.0),
    ("server", "connection_timeout = 0", float("inf")),
    ("client", "connection_timeout = 0", float("inf")),
    ("server", "connection_timeout = 30", 30.0),
    ("client", "connection_timeout = 2.5", 2.5),
])
def test_connection_timeout_by_role(role: str, text: str, expected: float) -> None:
    config = config_from_text(text, role=role)  # type: ignore[arg-type]
    assert config.connect_limit() == expected
