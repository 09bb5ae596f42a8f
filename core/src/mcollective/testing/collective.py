"""A real collective on one machine: ``mcollectived`` processes and the ``mco`` CLI.

Used by the test suites and the demo. Every node is a separate daemon process with its
own configuration, facts and classes under one directory, sharing the embedded
filesystem transport (or a broker URL) and a pre-shared key. Nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

READY_TIMEOUT = 30.0


def _script(name: str) -> list[str]:
    """The installed console script beside this interpreter (what a user runs)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which(name)
    if found:
        return [found]
    module = {"mco": "mcollective.cli.main", "mcollectived": "mcollective.server.main"}[name]
    return [sys.executable, "-m", module]


@dataclass
class NodeProcess:
    identity: str
    directory: Path
    config: Path
    pidfile: Path
    logfile: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not stop in time. Returns exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


@dataclass
class LocalCollective:
    """Nodes and a client configuration in ``root``.

    ``connector_url`` defaults to the embedded filesystem transport in ``root/broker``;
    ``connector`` names the connector plugin it is for (``plugin.<connector>.url``).
    """

    root: Path
    psk: str = "local-collective-test-key"
    collectives: Sequence[str] = ("mcollective",)
    connector_url: str | None = None
    connector: str = "kombu"
    extra_config: Mapping[str, Any] = field(default_factory=dict)
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        if self.connector_url is None:
            self.connector_url = f"filesystem://{(self.root / 'broker').resolve()}"
        self.client_config = self.write_client_config()

    # --- configuration --------------------------------------------------------------

    def base_settings(self, identity: str, collectives: Sequence[str] | None = None
                      ) -> dict[str, Any]:
        cols = list(collectives or self.collectives)
        return {
            "identity": identity,
            "collectives": ",".join(cols),
            "main_collective": cols[0],
            "connector": self.connector,
            f"plugin.{self.connector}.url": self.connector_url,
            "securityprovider": "psk",
            "plugin.psk": self.psk,
            "statedir": str(self.root / "state" / identity),
            **self.extra_config,
        }

    @staticmethod
    def render(settings: Mapping[str, Any]) -> str:
        return "".join(f"{k} = {v}\n" for k, v in settings.items() if v is not None)

    def write_client_config(self, name: str = "client.cfg", **overrides: Any) -> Path:
        settings = self.base_settings("mco-client")
        settings.update(overrides)
        path = self.root / name
        path.write_text("# client configuration written by LocalCollective\n"
                        + self.render(settings), encoding="utf-8")
        path.chmod(0o600)  # it holds the collective's secret (docs/configuration.md)
        return path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Each node configures its own statedir; XDG_STATE_HOME only moves the default
        # (MCOLLECTIVE_STATEDIR would override every node's statedir key).
        env.pop("MCOLLECTIVE_STATEDIR", None)
        env["XDG_STATE_HOME"] = str(self.root / "state")
        env.pop("MCOLLECTIVE_EXTRA_OPTS", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # --- nodes ----------------------------------------------------------------------

    def add_node(
        self, identity: str, *, facts: Mapping[str, Any] | None = None,
        classes: Iterable[str] = (), collectives: Sequence[str] | None = None,
        settings: Mapping[str, Any] | None = None, start: bool = True,
        wait: bool = True, env: Mapping[str, str] | None = None,
    ) -> NodeProcess:
        directory = self.root / "nodes" / identity
        directory.mkdir(parents=True, exist_ok=True)
        facts_file = directory / "facts.yaml"
        facts_file.write_text(yaml.safe_dump(dict(facts or {}), sort_keys=True),
                              encoding="utf-8")
        classes_file = directory / "classes.txt"
        classes_file.write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
        cfg = self.base_settings(identity, collectives)
        cfg.update({
            "factsource": "yaml",
            "plugin.yaml": str(facts_file),
            "classesfile": str(classes_file),
            "logger_type": "file",
            "logfile": str(directory / "mcollectived.log"),
            "loglevel": "info",
        })
        cfg.update(settings or {})
        config = directory / "server.cfg"
        config.write_text(self.render(cfg), encoding="utf-8")
        config.chmod(0o600)  # a daemon refuses secrets in a file others can read
        node = NodeProcess(identity, directory, config, directory / "mcollectived.pid",
                           directory / "mcollectived.log")
        self.nodes[identity] = node
        if start:
            self.start(node, wait=wait, env=env)
        return node

    def start(self, node: NodeProcess, *, wait: bool = True,
              env: Mapping[str, str] | None = None) -> NodeProcess:
        """Start the node's daemon; ``env`` adds to its environment (``NOTIFY_SOCKET``
        to play systemd, for instance)."""
        if node.pidfile.exists():
            node.pidfile.unlink()
        node.process = subprocess.Popen(
            [*_script("mcollectived"), "-c", str(node.config), "--pidfile", str(node.pidfile)],
            env={**self.env(), **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=open(node.directory / "stderr.log", "ab"),  # noqa: SIM115
        )
        if wait:
            self.wait_ready(node)
        return node

    def wait_ready(self, node: NodeProcess, timeout: float = READY_TIMEOUT) -> None:
        """The daemon writes its pid file once connected and subscribed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.pidfile.exists() and node.pidfile.read_text().strip():
                return
            if node.process is not None and node.process.poll() is not None:
                break
            time.sleep(0.02)
        stderr = (node.directory / "stderr.log").read_text(errors="replace")
        raise RuntimeError(f"mcollectived {node.identity} did not become ready "
                           f"(exit code {node.process.poll() if node.process else None})\n"
                           f"--- log ---\n{node.log()}\n--- stderr ---\n{stderr}")

    def set_facts(self, identity: str, facts: Mapping[str, Any]) -> None:
        node = self.nodes[identity]
        (node.directory / "facts.yaml").write_text(yaml.safe_dump(dict(facts)),
                                                   encoding="utf-8")

    def stop_all(self, timeout: float = 20.0) -> dict[str, int | None]:
        return {name: node.stop(timeout) for name, node in self.nodes.items()}

    # --- the client -----------------------------------------------------------------

    def mco(self, *args: str, input: str | None = None, timeout: float = 120,
            config: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real ``mco`` with this collective's client configuration."""
        cmd = [*_script("mco"), args[0], "-c", str(config or self.client_config), *args[1:]]
        # Without input, stdin is /dev/null: an inherited pipe would make mco pick the
        # stdin discovery method, as it does for users piping identities in.
        return subprocess.run(cmd, env=self.env(), input=input, capture_output=True,
                              stdin=subprocess.DEVNULL if input is None else None,
                              text=True, timeout=timeout, check=False)

    def __enter__(self) -> LocalCollective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
