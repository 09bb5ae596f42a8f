"""mcollectived as a system service: a node that never gives up on its broker, systemd's
readiness protocol, --daemonize's start-up status, signals, journal logging.

Real daemons, the real mco, real private brokers (RabbitMQ and Redis on free ports,
started after the node). systemd itself is played by a datagram socket in the test:
this machine's PID 1 is not systemd, and the protocol is one datagram per message.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import ok

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import (
    RabbitMQServer,
    RedisServer,
    brokers_required,
    free_port,
    rabbitmq_server_binary,
)
from mcollective.testing.contracts import wait_until

MCOLLECTIVED = str(Path(sys.executable).parent / "mcollectived")


class FakeSystemd:
    """The receiving end of ``$NOTIFY_SOCKET``: collects what the daemon tells systemd."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.1)
        self.messages: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path)}

    def received(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                return self.messages
            self.messages.append(data.decode())

    def fields(self) -> list[str]:
        return [f for m in self.received() for f in m.split("\n")]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(tmp_path)
    yield fake
    fake.close()


def _private_broker(kind: str) -> RabbitMQServer | RedisServer:
    if kind == "amqp":
        if rabbitmq_server_binary() is None:
            if brokers_required():
                pytest.fail("MCO_REQUIRE_BROKERS=1 but rabbitmq-server is not installed")
            pytest.skip("rabbitmq-server is not installed")
        return RabbitMQServer()
    return RedisServer()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["amqp", "redis"])
def test_a_node_started_before_its_broker_serves_once_it_appears(
        kind: str, tmp_path: Path, systemd: FakeSystemd) -> None:
    broker = _private_broker(kind)
    collective = LocalCollective(tmp_path / "c", connector_url=broker.url,
                                 extra_config={"plugin.kombu.max_backoff": 1})
    try:
        node = collective.add_node("n1", wait=False, env=systemd.env)
        assert wait_until(lambda: "cannot reach" in node.log(), timeout=30), node.log()
        time.sleep(4)  # several more attempts fail meanwhile (max_backoff 1 s)
        assert node.alive()
        assert not node.pidfile.read_text().strip(), "the pid file is written once ready"
        assert "READY=1" not in systemd.fields()
        assert "STATUS=connecting to the middleware" in systemd.fields()
        broker.start()
        collective.wait_ready(node, timeout=120)
        assert ok(collective.mco("ping")).stdout.startswith("n1 ")
        assert wait_until(lambda: "READY=1" in systemd.fields(), timeout=10)
        log = node.log()
        assert log.count("cannot reach") == 1, log
        assert "answered after" in log
    finally:
        collective.stop_all()
        if isinstance(broker, RedisServer):
            broker.stop()
        else:
            broker.close()


def test_connection_timeout_is_the_old_limit(local_collective: LocalCollective) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    node = local_collective.add_node("n1", wait=False, settings={
        "plugin.kombu.url": dead, "connection_timeout": 2})
    assert node.process is not None
    assert node.process.wait(60) == 1
    assert "gave up after 2s (connection_timeout)" in node.log()
    assert "Connection refused" in node.log()


def test_a_client_fails_at_once_when_the_broker_refuses(
        local_collective: LocalCollective) -> None:
    """A definite refusal of the only broker URL fails now: with a connection_timeout
    of ten minutes, mco still ends long before the test's own limit."""
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    config = local_collective.write_client_config(
        "refused.cfg", **{"plugin.kombu.url": dead, "connection_timeout": 600})
    proc = local_collective.mco("ping", config=config, timeout=60)
    assert proc.returncode == 1
    assert "cannot connect to amqp://guest:**@127.0.0.1" in proc.stderr
    assert "Connection refused" in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, no traceback


def test_a_client_still_gives_up_after_its_connection_timeout(
        local_collective: LocalCollective) -> None:
    """Two URLs that refuse: no definite answer (a cluster may be restarting), so the
    client keeps trying, but only for its connection_timeout."""
    urls = ",".join(f"amqp://guest:guest@127.0.0.1:{free_port()}//" for _ in range(2))
    config = local_collective.write_client_config(
        "two.cfg", **{"plugin.kombu.url": urls, "connection_timeout": 2})
    proc = local_collective.mco("ping", config=config, timeout=60)
    assert proc.returncode == 1
    assert "cannot connect to" in proc.stderr


def test_readiness_reload_and_stop_are_told_to_systemd(
        local_collective: LocalCollective, systemd: FakeSystemd) -> None:
    node = local_collective.add_node("n1", env=systemd.env)
    assert wait_until(lambda: "READY=1" in systemd.fields())
    ready_at = systemd.fields().index("READY=1")
    # READY=1 comes after subscribing, with the pid file: the node answers at once.
    assert ok(local_collective.mco("ping")).stdout.startswith("n1 ")
    node.signal(signal.SIGHUP)
    assert wait_until(lambda: "RELOADING=1" in systemd.fields())
    assert wait_until(lambda: systemd.fields().count("READY=1") >= 2)
    assert any(f.startswith("MONOTONIC_USEC=") for f in systemd.fields())
    assert systemd.fields()[:ready_at].count("READY=1") == 0
    node.signal(signal.SIGTERM)
    assert node.process is not None and node.process.wait(30) == 0
    assert "STOPPING=1" in systemd.fields()


def test_sigusr1_reloads_agents(local_collective: LocalCollective) -> None:
    node = local_collective.add_node("n1")
    node.signal(signal.SIGUSR1)
    assert wait_until(lambda: "received SIGUSR1, reloading agents" in node.log())
    assert wait_until(lambda: "reloaded:" in node.log())
    assert node.alive()
    assert ok(local_collective.mco("ping")).stdout.startswith("n1 ")


def _daemonize(config: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([MCOLLECTIVED, "-c", str(config), "--daemonize", *extra],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_daemonize_returns_the_start_up_status(local_collective: LocalCollective,
                                              tmp_path: Path) -> None:
    node = local_collective.add_node("n1", start=False)
    base = node.config.read_text()
    # A plugin that cannot be loaded is only found after forking: the pipe reports it.
    node.config.write_text(base + "securityprovider = pks\n")
    proc = _daemonize(node.config, tmp_path)
    assert proc.returncode == 1
    assert "no security plugin 'pks'" in proc.stderr and "did you mean 'psk'" in proc.stderr
    # The broker never answers within connection_timeout: the start failed.
    node.config.write_text(base + f"plugin.kombu.url = redis://127.0.0.1:{free_port()}/0\n"
                           "connection_timeout = 2\n")
    proc = _daemonize(node.config, tmp_path)
    assert proc.returncode == 1
    assert "gave up after 2s" in proc.stderr
    # A node that starts: exit 0 once it serves, pid file written.
    node.config.write_text(base)
    proc = _daemonize(node.config, tmp_path, "--pidfile", str(node.pidfile))
    assert proc.returncode == 0, proc.stderr
    pid = int(node.pidfile.read_text())
    try:
        assert ok(local_collective.mco("ping")).stdout.startswith("n1 ")
    finally:
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: not node.pidfile.exists())


def test_logs_to_the_journal_without_a_second_time_stamp(
        local_collective: LocalCollective) -> None:
    node = local_collective.add_node("n1", start=False, settings={
        "logger_type": "console", "logfile": None})
    stderr = node.directory / "journal.log"
    with open(stderr, "wb") as out:
        info = os.fstat(out.fileno())
        env = {**local_collective.env(), "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        proc = subprocess.Popen([MCOLLECTIVED, "-c", str(node.config), "--pidfile",
                                 str(node.pidfile)], stderr=out, env=env)
    try:
        assert wait_until(lambda: node.pidfile.exists() and "ready" in stderr.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = stderr.read_text()
    ready = next(line for line in text.splitlines() if "ready:" in line)
    assert ready.startswith("<6>mcollective.server.daemon: mcollectived "), ready
    assert not any(line[:4].isdigit() for line in text.splitlines()), text


EXAMPLES = Path(__file__).resolve().parents[1] / "core" / "share" / "mcollective"


@pytest.mark.parametrize(("name", "role"), [("server.cfg", "server"), ("client.cfg", "client")])
def test_example_configurations_load_as_shipped_and_uncommented(
        name: str, role: str, tmp_path: Path) -> None:
    """The examples work as shipped (every line commented: the defaults), and every
    setting they show is a real key with a valid value, the kombu ones included."""
    from mcollective.config import load_config
    from mcollective_connector_kombu.options import load_options

    text = (EXAMPLES / name).read_text()
    load_config(EXAMPLES / name, role=role)  # type: ignore[arg-type]
    settings = [line[2:] for line in text.splitlines()
                if re.match(r"^# [\w.]+ = ", line)]
    assert len(settings) > 8
    uncommented = tmp_path / name
    uncommented.write_text("\n".join(settings) + "\n")
    uncommented.chmod(0o600)  # it shows a broker URL with a password
    config = load_config(uncommented, role=role)  # type: ignore[arg-type]
    load_options("kombu", config)


def test_the_unit_file_is_what_the_docs_say() -> None:
    unit = (EXAMPLES / "mcollectived.service").read_text()
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID",
                 "StateDirectory=mcollective", "LogsDirectory=mcollective",
                 "ConfigurationDirectory=mcollective", "CacheDirectory=mcollective",
                 "ExecStart=mcollectived"):
        assert f"\n{line}\n" in unit, line
