"""Core's audit plugins, declared as entry points like third-party ones.

``logfile`` appends one line per request to ``plugin.rpcaudit.logfile``: a JSON object
(the default) or MCollective's classic line. Enabled with::

    rpcaudit = 1
    rpcauditprovider = logfile
    plugin.rpcaudit.logfile = /var/log/mcollective/audit.log
    plugin.rpcaudit.format = json

The daemon audits a request after DDL validation and authorization and *before* the
action runs, so an action that hangs or kills the node is still on record; ``status`` is
therefore the status the node answered with when it refused the request (1 for not
authorized) and ``null`` when the action was started.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcollective.audit import AuditEvent, Auditor
from mcollective.config import one_of, path
from mcollective.hookspecs import hookimpl

if TYPE_CHECKING:
    from mcollective.config import Config

try:  # advisory locks keep lines whole when several daemons share one file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: ``plugin.rpcaudit.*`` keys the logfile plugin reads.
SCHEMA = {"logfile": path, "format": one_of("json", "classic")}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def json_line(event: AuditEvent) -> str:
    """One JSON object per line; keys in a fixed order so lines diff and grep well."""
    record = {
        "time": _iso(event.time),
        "request_id": event.request_id,
        "request_time": event.request_time,
        "caller": event.caller,
        "sender": event.sender,
        "agent": event.agent,
        "action": event.action,
        "collective": event.collective,
        "data": event.data,
        "authorized": event.authorized,
        "reason": event.reason,
        "status": event.statuscode,
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=repr,
                      allow_nan=True) + "\n"


def classic_line(event: AuditEvent) -> str:
    """MCollective's logfile audit line, unchanged so existing parsers keep working.

    Control characters in any field are escaped: a sender id carrying a newline must not
    be able to forge a second audit line.
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.time))
    data = json.dumps(event.data, separators=(", ", "=>"), ensure_ascii=False, default=repr)
    return (f"[{stamp} UTC] reqid={_clean(event.request_id)}: "
            f"reqtime={int(event.request_time)} "
            f"caller={_clean(event.caller)}@{_clean(event.sender)} "
            f"agent={_clean(event.agent)} action={_clean(event.action)} "
            f"data={_clean(data)}\n")


def _clean(value: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _iso(stamp: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp))
    return f"{whole}.{int((stamp % 1) * 1000):03d}Z"


class LogfileAuditor(Auditor):
    """Appends audit lines to a file, one ``write`` per line under an exclusive lock.

    The file is opened for every line (``O_APPEND``): log rotation, removal or a
    changed directory never leaves the daemon writing to a stale file, and several
    daemons or threads can share one file without interleaving lines.
    """

    def __init__(self, logfile: Path, fmt: str = "json") -> None:
        self.logfile = logfile
        self.format = fmt
        self._render = classic_line if fmt == "classic" else json_line
        self._lock = threading.Lock()

    def audit(self, event: AuditEvent) -> None:
        data = self._render(event).encode("utf-8", errors="backslashreplace")
        with self._lock:
            fd = os.open(self.logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)

    @classmethod
    def from_config(cls, config: Config) -> LogfileAuditor:
        """Build from ``plugin.rpcaudit.*``: the file defaults to
        ``<statedir>/audit.log``; relative paths are taken from the config file's
        directory. The directory is created so that a first request never fails."""
        settings: dict[str, Any] = config.plugin_config("rpcaudit", SCHEMA,
                                                        {"format": "json"})
        raw = settings.get("logfile")
        logfile = config.resolve_path(raw) if raw else config.statedir / "audit.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        return cls(logfile, settings["format"])

    @hookimpl
    @staticmethod
    def mco_audit_create(config: Config) -> Auditor:
        return LogfileAuditor.from_config(config)
