"""Packaging, configuration and failure to connect."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mcollective.config import config_from_text
from mcollective.errors import ConfigError, ConnectionFailed
from mcollective.plugins import installed_plugins, make_plugin_manager
from mcollective_connector_kombu.connector import KombuConnector
from mcollective_connector_kombu.options import load_options


def options(text: str, tmp_path: Path | None = None):  # type: ignore[no-untyped-def]
    statedir = f"statedir = {tmp_path}\n" if tmp_path else ""
    return load_options("kombu", config_from_text(f"identity = n1\n{statedir}{text}"))


def test_entry_point_is_installed_and_creates_the_connector(tmp_path: Path) -> None:
    names = {(p.kind, p.name, p.distribution) for p in installed_plugins("connector")}
    assert ("connector", "kombu", "mcollective-connector-kombu") in names
    config = config_from_text(f"identity = n1\nstatedir = {tmp_path}\n")
    connector = make_plugin_manager().create_connector(config)
    assert isinstance(connector, KombuConnector)
    assert connector.describe()["url"] == f"filesystem://{tmp_path}/broker"


def test_importing_the_plugin_does_no_work() -> None:
    code = ("import sys, mcollective_connector_kombu.plugin as p; "
            "assert 'kombu' not in sys.modules, 'kombu imported'; "
            "assert 'mcollective_connector_kombu.connector' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_memory_and_filesystem_work_without_redis_py(tmp_path: Path) -> None:
    """redis-py is an extra ([redis]); kombu's own redis transport module cannot be
    imported without it, so nothing but redis:// and sqs:// may import that module.
    Here redis-py is made unimportable in a fresh interpreter (the test environment
    has it installed for the Redis tests)."""
    code = ("import sys; sys.modules['redis'] = None\n"
            "from mcollective.config import config_from_text\n"
            "from mcollective.plugins import make_plugin_manager\n"
            "for url in ('memory://', 'filesystem://' + sys.argv[1]):\n"
            "    c = make_plugin_manager().create_connector(config_from_text(\n"
            "        f'identity = n1\\nstatedir = {sys.argv[1]}\\nplugin.kombu.url = {url}\\n'))\n"
            "    c.connect(timeout=10)\n"
            "    c.subscribe_replies()\n"
            "    c.close()\n"
            "assert 'kombu.transport.redis' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)


@pytest.mark.parametrize(("url", "family", "root"), [
    (None, "filesystem", "STATE/broker"),
    ("filesystem://", "filesystem", "STATE/broker"),
    ("filesystem:///srv/mco", "filesystem", "/srv/mco"),
    ("memory://", "memory", None),
    ("amqp://u:secret@rabbit:5672//", "amqp", None),
    ("pyamqp://rabbit//", "amqp", None),
    ("redis://redis:6379/1", "redis", None),
])
def test_urls(url: str | None, family: str, root: str | None, tmp_path: Path) -> None:
    opts = options(f"plugin.kombu.url = {url}\n" if url else "", tmp_path)
    assert opts.broker.family == family
    if root:
        assert opts.broker.root == root.replace("STATE", str(tmp_path))
    assert "secret" not in opts.broker.display


def test_defaults_per_transport(tmp_path: Path) -> None:
    assert options("", tmp_path).polling_interval == 5.0  # a fallback: doorbells wake
    assert options("plugin.kombu.url = redis://r//\n").polling_interval == 0.25
    assert options("plugin.kombu.url = amqp://r//\n").polling_interval is None
    tuned = options("plugin.kombu.polling_interval = 0.5\nplugin.kombu.heartbeat = 0\n"
                    "connection_timeout = 3\n", tmp_path)
    assert (tuned.polling_interval, tuned.heartbeat, tuned.connect_timeout) == (0.5, 0, 3)


@pytest.mark.parametrize(("line", "message"), [
    ("plugin.kombu.url = rabit://host", "unsupported scheme 'rabit'"),
    ("plugin.kombu.url = filesystem://relative/path", "absolute"),
    ("plugin.kombu.url = amqp://a//;redis://b/0", "one transport"),
    ("plugin.kombu.url = memory://, memory://", "takes one URL"),
    ("plugin.kombu.sqs_retention = 10", "at least 60"),
    ("plugin.kombu.polling_interval = soon", "expected a number"),
    ("plugin.kombu.heartbeat = -1", "at least 0"),
])
def test_bad_settings_name_file_line_and_key(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        options(f"\n{line}\n")
    assert message in str(info.value)
    assert info.value.line == 3
    assert info.value.key == line.split(" = ")[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_unreachable_broker_fails_within_the_timeout(scheme: str) -> None:
    url = f"{scheme}://user:hunter2@127.0.0.1:{closed_port()}/"
    connector = KombuConnector(options(f"plugin.kombu.url = {url}\n"))
    with pytest.raises(ConnectionFailed) as info:
        connector.connect(timeout=0.5)
    assert "127.0.0.1" in str(info.value) and "cannot connect" in str(info.value)
    assert "hunter2" not in str(info.value)
    connector.close()


def test_unusable_broker_directory_fails_to_connect(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    connector = KombuConnector(options(f"plugin.kombu.url = filesystem://{blocker}/b\n"))
    with pytest.raises(ConnectionFailed, match=str(blocker)):
        connector.connect(timeout=0.2)


def test_not_connected_is_an_error(tmp_path: Path) -> None:
    connector = KombuConnector(options("", tmp_path))
    with pytest.raises(ConnectionFailed, match="not connected"):
        connector.publish_request(b"x", collective="c", agent="a", ttl=1)
    with pytest.raises(ConnectionFailed, match="not connected"):
        connector.subscribe_node("n1", ["c"], ["a"])
    with pytest.raises(RuntimeError, match="connect"):
        connector.start(lambda body, identity: None)
