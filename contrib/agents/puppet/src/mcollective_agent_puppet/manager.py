"""Puppet's own state, read and changed the way Puppet does it.

* **Where the files are**: ``puppet config print`` (section ``agent``) with the
  configured ``--confdir``/``--vardir``/... options, run once and cached; each file can
  be given in the configuration instead.
* **Disabled**: ``agent_disabled_lockfile`` exists; it holds ``{"disabled_message":
  ...}`` (what ``puppet agent --disable MSG`` writes and ``--enable`` removes).
* **Applying**: ``agent_catalog_run_lockfile`` holds the pid of a live process.
* **Daemon present**: the agent's ``pidfile`` holds the pid of a live process.
* **Last run**: ``lastrunfile`` (``last_run_summary.yaml``) and ``lastrunreport``
  (``last_run_report.yaml``, Ruby-tagged YAML read with a loader that turns tagged
  objects into plain mappings).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mcollective.errors import RPCAborted

#: The Puppet settings the agent needs, as ``puppet config print`` names them.
SETTINGS = ("agent_catalog_run_lockfile", "agent_disabled_lockfile", "lastrunfile",
            "lastrunreport", "resourcefile", "pidfile")
#: Directory options passed to every ``puppet`` command when configured.
DIR_OPTIONS = ("confdir", "vardir", "publicdir", "rundir", "logdir", "codedir")


class _RubyLoader(yaml.SafeLoader):
    """Safe YAML that reads Puppet's ``!ruby/object:...`` documents as mappings."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RubyLoader.add_multi_constructor("!", _tagged)


def pid_alive(path: Path) -> int | None:
    """The pid in ``path`` when that process is running."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        pid = int(text.split()[0]) if text else 0
    except (OSError, ValueError, IndexError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # someone else's process: alive
    return pid


def seconds_to_human(seconds: float) -> str:
    """``1 hours 2 minutes 03 seconds`` as the Ruby agent printed it."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} days {hours} hours {minutes} minutes {secs:02d} seconds"
    if hours:
        return f"{hours} hours {minutes} minutes {secs:02d} seconds"
    if minutes:
        return f"{minutes} minutes {secs:02d} seconds"
    return f"{secs} seconds"


@dataclass
class PuppetManager:
    """Puppet on this node, as the agent's settings describe it."""

    puppet: list[str]
    dir_options: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    run_mode: str = "agent"
    apply_manifest: str | None = None
    config_timeout: float = 60.0
    _paths: dict[str, Path] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- settings -----------------------------------------------------------------------

    def options(self) -> list[str]:
        return [f"--{key}={value}" for key, value in sorted(self.dir_options.items())]

    def paths(self) -> dict[str, Path]:
        """Where Puppet keeps each state file (``puppet config print``, cached)."""
        with self._lock:
            if self._paths is not None:
                return self._paths
            wanted = [name for name in SETTINGS if name not in self.overrides]
            found: dict[str, Path] = {k: Path(v) for k, v in self.overrides.items()}
            if wanted:
                command = [*self.puppet, "config", "print", *wanted, "--section", "agent",
                           *self.options()]
                try:
                    proc = subprocess.run(command, capture_output=True, text=True,
                                          timeout=self.config_timeout, check=False,
                                          stdin=subprocess.DEVNULL)
                except FileNotFoundError:
                    raise RPCAborted(f"Puppet is not installed: {self.puppet[0]} "
                                     "not found") from None
                except subprocess.TimeoutExpired:
                    raise RPCAborted("'puppet config print' did not answer within "
                                     f"{self.config_timeout:g}s") from None
                if proc.returncode != 0:
                    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
                    raise RPCAborted("'puppet config print' failed: "
                                     + (lines[-1] if lines else f"exit {proc.returncode}"))
                for line in proc.stdout.splitlines():
                    key, sep, value = line.partition(" = ")
                    if sep and key.strip() in wanted:
                        found[key.strip()] = Path(value.strip())
                if len(wanted) == 1 and wanted[0] not in found and proc.stdout.strip():
                    found[wanted[0]] = Path(proc.stdout.strip())
            missing = [name for name in SETTINGS if name not in found]
            if missing:
                raise RPCAborted("'puppet config print' did not give "
                                 + ", ".join(missing))
            self._paths = found
            return found

    # --- state ----------------------------------------------------------------------------

    def disabled_message(self) -> str | None:
        """``None`` when enabled, else the message (possibly empty)."""
        path = self.paths()["agent_disabled_lockfile"]
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RPCAborted(f"cannot read {path}: {exc.strerror}") from None
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            return text.strip()  # an old Puppet's plain-text lock
        return str(data.get("disabled_message", "")) if isinstance(data, dict) else ""

    def applying(self) -> bool:
        return pid_alive(self.paths()["agent_catalog_run_lockfile"]) is not None

    def daemon_present(self) -> bool:
        return pid_alive(self.paths()["pidfile"]) is not None

    def summary(self) -> dict[str, Any]:
        path = self.paths()["lastrunfile"]
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_RubyLoader)
        except FileNotFoundError:
            return {}
        except (OSError, yaml.YAMLError) as exc:
            raise RPCAborted(f"cannot read the last run summary {path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def lastrun(self, summary: dict[str, Any] | None = None) -> int:
        summary = self.summary() if summary is None else summary
        try:
            return int(float((summary.get("time") or {}).get("last_run", 0)))
        except (TypeError, ValueError):
            return 0

    def report(self) -> dict[str, Any]:
        path = self.paths()["lastrunreport"]
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_RubyLoader)
        except FileNotFoundError:
            return {}
        except (OSError, yaml.YAMLError) as exc:
            raise RPCAborted(f"cannot read the last run report {path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def managed_resources(self) -> list[str]:
        """``type[title]`` of every resource Puppet manages: ``resourcefile`` (written
        by ``puppet agent``), else the resources of the last report."""
        try:
            lines = self.paths()["resourcefile"].read_text(encoding="utf-8").splitlines()
            return [line.strip().lower() for line in lines if line.strip()]
        except OSError:
            pass
        statuses = self.report().get("resource_statuses") or {}
        return [str(name).lower() for name in statuses]

    def type_distribution(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.managed_resources():
            kind = resource.split("[", 1)[0].capitalize()
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for entry in self.report().get("logs") or []:
            if not isinstance(entry, dict):
                continue
            when: Any = entry.get("time")
            stamp = int(when.timestamp()) if hasattr(when, "timestamp") else 0
            out.append({"time_utc": stamp, "level": str(entry.get("level", "")),
                        "source": str(entry.get("source", "")),
                        "msg": str(entry.get("message", ""))})
        return out

    # --- changes ------------------------------------------------------------------------

    def disable(self, message: str) -> None:
        """Write the disabled lock exactly as ``puppet agent --disable`` does."""
        if self.disabled_message() is not None:
            raise RPCAborted("Already disabled")
        path = self.paths()["agent_disabled_lockfile"]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"disabled_message": message}), encoding="utf-8")
        os.replace(tmp, path)

    def enable(self) -> None:
        if self.disabled_message() is None:
            raise RPCAborted("Already enabled")
        try:
            self.paths()["agent_disabled_lockfile"].unlink()
        except FileNotFoundError:
            pass

    def run_command(self, *, noop: bool | None = None, tags: Sequence[str] = (),
                    skip_tags: Sequence[str] = (), environment: str | None = None,
                    server: tuple[str, int | None] | None = None,
                    splay: bool = False, splaylimit: float | None = None,
                    use_cached_catalog: bool | None = None) -> list[str]:
        """The ``puppet`` command line of one run in the configured mode."""
        if self.run_mode == "apply":
            assert self.apply_manifest is not None
            command = [*self.puppet, "apply", *self.options(), "--color=false"]
        else:
            command = [*self.puppet, "agent", "--onetime", "--no-daemonize",
                       *self.options(), "--color=false", "--show_diff", "--verbose"]
        if noop is not None:
            command.append("--noop" if noop else "--no-noop")
        if tags:
            command.append("--tags=" + ",".join(tags))
        if skip_tags:
            command.append("--skip_tags=" + ",".join(skip_tags))
        if environment:
            command.append(f"--environment={environment}")
        if self.run_mode != "apply":
            if server is not None:
                command.append(f"--server={server[0]}")
                if server[1]:
                    command.append(f"--serverport={server[1]}")
            if use_cached_catalog is not None:
                command.append("--use_cached_catalog" if use_cached_catalog
                               else "--no-use_cached_catalog")
            if splay:
                command.append("--splay")
                if splaylimit:
                    command.append(f"--splaylimit={int(splaylimit)}")
            else:
                command.append("--no-splay")
        else:
            command.append(str(self.apply_manifest))
        return command

    def start_run(self, command: list[str], *, delay: float = 0.0) -> None:
        """Start ``command`` in the background, after ``delay`` seconds (the splay of an
        apply-mode run; ``puppet agent`` splays itself). In apply mode the catalog run
        lock is taken as ``puppet agent`` takes it, so status shows the run and a
        second run is refused while it lasts."""
        lock = self.paths()["agent_catalog_run_lockfile"] if self.run_mode == "apply" \
            else None
        if lock is not None:
            lock.parent.mkdir(parents=True, exist_ok=True)
            # Held from now, through the splay, until the run ends.
            lock.write_text(f"{os.getpid()}", encoding="utf-8")
        if delay <= 0:
            proc = self._spawn(command, lock)
            threading.Thread(target=self._reap, args=(proc, lock), daemon=True,
                             name="puppet-run").start()
            return

        def later() -> None:
            time.sleep(delay)
            try:
                proc = self._spawn(command, lock)
            except RPCAborted:
                if lock is not None:
                    lock.unlink(missing_ok=True)
                return
            self._reap(proc, lock)

        threading.Thread(target=later, daemon=True, name="puppet-splay").start()

    @staticmethod
    def _spawn(command: list[str], lock: Path | None) -> subprocess.Popen[bytes]:
        try:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as exc:
            if lock is not None:
                lock.unlink(missing_ok=True)
            raise RPCAborted(f"cannot start {command[0]}: {exc.strerror}") from None
        if lock is not None:
            lock.write_text(str(proc.pid), encoding="utf-8")
        return proc

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes], lock: Path | None) -> None:
        proc.wait()
        if lock is not None:
            try:
                if lock.read_text(encoding="utf-8").strip() == str(proc.pid):
                    lock.unlink()
            except OSError:
                pass


def splay_delay(limit: float) -> float:
    return random.uniform(0, max(0.0, limit))
