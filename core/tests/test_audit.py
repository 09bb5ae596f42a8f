"""The logfile audit plugin, and auditing in the daemon: several plugins together,
denials recorded, failures never breaking a request."""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from inprocess import client, make_plugins, node_config

from mcollective import hookimpl
from mcollective.audit import AuditEvent, Auditor
from mcollective.audit_plugins import LogfileAuditor, classic_line, json_line
from mcollective.authorization import Authorizer, Decision
from mcollective.client import ClientSession
from mcollective.config import config_from_text, load_config
from mcollective.errors import ConfigError
from mcollective.plugins import make_plugin_manager
from mcollective.server.daemon import Daemon

NOT_AUTHORIZED = "You are not authorized to call this agent or action"


def event(**kw: Any) -> AuditEvent:
    base: dict[str, Any] = dict(
        time=1700000000.25, request_id="ab" * 16, request_time=1699999999.5,
        caller="user=alice", sender="client1", agent="service", action="restart",
        data={"service": "nginx"}, collective="mcollective", authorized=True,
        reason="allowed by x.policy:2", statuscode=None)
    base.update(kw)
    return AuditEvent(**base)


def test_json_line_has_every_field() -> None:
    line = json_line(event())
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == {
        "time": "2023-11-14T22:13:20.250Z", "request_id": "ab" * 16,
        "request_time": 1699999999.5, "caller": "user=alice", "sender": "client1",
        "agent": "service", "action": "restart", "collective": "mcollective",
        "data": {"service": "nginx"}, "authorized": True,
        "reason": "allowed by x.policy:2", "status": None,
    }


def test_classic_line_is_mcollectives_format() -> None:
    assert classic_line(event()) == (
        "[2023-11-14 22:13:20 UTC] reqid=abababababababababababababababab: "
        "reqtime=1699999999 caller=user=alice@client1 agent=service action=restart "
        'data={"service"=>"nginx"}\n')


def test_control_characters_cannot_forge_lines() -> None:
    hostile = event(sender="x\n[2023-01-01 00:00:00 UTC] reqid=forged", data={"k": "a\nb"})
    for render in (classic_line, json_line):
        line = render(hostile)
        assert line.count("\n") == 1 and line.endswith("\n")


def test_logfile_appends_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    auditor = LogfileAuditor(path)
    auditor.audit(event())
    auditor.audit(event(authorized=False, statuscode=1, reason="denied"))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["authorized"] for r in records] == [True, False]
    assert records[1]["status"] == 1
    assert path.stat().st_mode & 0o777 == 0o640
    # A rotated-away file is not written to again: the next line starts a new file.
    path.rename(tmp_path / "audit.log.1")
    auditor.audit(event())
    assert len(path.read_text().splitlines()) == 1


def _write_many(path: str, tag: str, count: int) -> None:
    auditor = LogfileAuditor(Path(path))
    for i in range(count):
        auditor.audit(event(request_id=f"{tag}{i}", data={"blob": tag * 3000}))


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    # Other processes (spawned: forking a threaded test runner can deadlock) and threads.
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(path), f"p{n}", 100))
             for n in range(2)]
    threads = [threading.Thread(target=_write_many, args=(str(path), f"t{n}", 100))
               for n in range(4)]
    workers: list[Any] = [*procs, *threads]
    for worker in workers:
        worker.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 600
    ids = {json.loads(line)["request_id"] for line in lines}
    assert len(ids) == 600


def test_from_config_defaults_and_paths(tmp_path: Path) -> None:
    auditor = LogfileAuditor.from_config(config_from_text(f"statedir = {tmp_path}/state\n"))
    assert auditor.logfile == tmp_path / "state" / "audit.log" and auditor.format == "json"
    assert auditor.logfile.parent.is_dir()
    cfg = tmp_path / "server.cfg"
    cfg.write_text("rpcaudit = 1\nrpcauditprovider = logfile\n"
                   "plugin.rpcaudit.logfile = logs/audit.log\n"
                   "plugin.rpcaudit.format = classic\n", encoding="utf-8")
    config = load_config(cfg, role="server", environ={})
    [(name, made)] = make_plugin_manager().create_auditors(config)
    assert name == "logfile" and isinstance(made, LogfileAuditor)
    assert made.logfile == tmp_path / "logs" / "audit.log" and made.format == "classic"
    # A misspelt key is warned about (core's rule for plugin keys) and keeps the default.
    assert LogfileAuditor.from_config(
        config_from_text("plugin.rpcaudit.fromat = classic\n")).format == "json"
    with pytest.raises(ConfigError, match=r"plugin\.rpcaudit\.format"):
        LogfileAuditor.from_config(config_from_text("plugin.rpcaudit.format = xml\n"))


# --- in the daemon -------------------------------------------------------------------


class Memory(Auditor):
    events: list[AuditEvent] = []

    def audit(self, event: AuditEvent) -> None:
        Memory.events.append(event)

    @hookimpl
    @staticmethod
    def mco_audit_create() -> Auditor:
        return Memory()


class Broken(Auditor):
    def audit(self, event: AuditEvent) -> None:
        raise OSError("disk full")

    @hookimpl
    @staticmethod
    def mco_audit_create() -> Auditor:
        return Broken()


class NoRefusing(Authorizer):
    """Denies the worker's ``refuse`` action; raises for ``crash``."""

    def authorize(self, request: Any, action: str, node: Any) -> Decision:
        if action == "crash":
            raise RuntimeError("policy store unavailable")
        return Decision(action != "refuse", f"test policy on {node.identity}")

    @hookimpl
    @staticmethod
    def mco_authorization_create() -> Authorizer:
        return NoRefusing()


@contextmanager
def audited_node(extra: str) -> Iterator[tuple[Daemon, ClientSession]]:
    broker = uuid.uuid4().hex
    plugins = make_plugins()
    plugins.register("audit", "memory", Memory)
    plugins.register("audit", "broken", Broken)
    plugins.register("authorization", "noref", NoRefusing)
    daemon = Daemon(node_config("n1", broker, extra), plugins=plugins)
    daemon.start()
    session = ClientSession(node_config("client", broker), plugins=plugins)
    try:
        session.connect()
        yield daemon, session
    finally:
        session.close()
        daemon.stop(timeout=2)


def test_daemon_audits_with_several_plugins_and_survives_failures(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "audit.log"
    extra = (f"rpcaudit = 1\nrpcauditprovider = broken, logfile, memory\n"
             f"plugin.rpcaudit.logfile = {log}\n"
             "rpcauthorization = 1\nrpcauthprovider = noref\n")
    Memory.events.clear()
    with caplog.at_level(logging.ERROR), audited_node(extra) as (daemon, session):
        c = client(session)
        ok = c.call("echo", message="hi")[0]
        assert ok.statuscode == 0 and ok.data["message"] == "hi"
        denied = c.call("refuse")[0]
        assert (denied.statuscode, denied.statusmsg) == (1, NOT_AUTHORIZED)
        failed = c.call("crash")[0]  # an authorizer that raises denies
        assert (failed.statuscode, failed.statusmsg) == (1, NOT_AUTHORIZED)
        assert daemon.stats["authfailures"] == 2
    assert "audit plugin 'broken' failed" in caplog.text
    records = [json.loads(line) for line in log.read_text().splitlines()]
    worker = [r for r in records if r["agent"] == "worker"]
    assert [(r["action"], r["authorized"], r["status"]) for r in worker] == [
        ("echo", True, None), ("refuse", False, 1), ("crash", False, 1)]
    echo = worker[0]
    assert echo["data"] == {"message": "hi", "times": 1}
    assert echo["caller"] == "user=contract" and echo["sender"] == "client"
    assert re.fullmatch(r"[0-9a-f]{32}", echo["request_id"])
    assert echo["reason"] == "test policy on n1"
    assert "policy store unavailable" in worker[2]["reason"]
    # discovery pings are requests too, and every plugin saw every request.
    assert {r["agent"] for r in records} == {"discovery", "worker"}
    assert [e.request_id for e in Memory.events] == [r["request_id"] for r in records]


def test_no_audit_without_rpcaudit(tmp_path: Path) -> None:
    Memory.events.clear()
    with audited_node("rpcauditprovider = memory\n") as (daemon, session):
        assert client(session).call("echo", message="hi")[0].statuscode == 0
        assert daemon.auditors == []
    assert Memory.events == []
