"""Process listing with psutil: one portable source for every platform psutil knows,
instead of parsing ``ps`` output that differs between systems."""

from __future__ import annotations

import pwd
import time
from typing import Any

import psutil

from mcollective import regex as bounded_regex
from mcollective.agent import Agent, AgentReply, AgentRequest
from mcollective.errors import InvalidRPCData

#: psutil's status names as the one-letter states of ``ps`` and ``/proc`` (and of
#: Choria's sys-proctable based agent), so ``state == "Z"`` keeps meaning zombie.
STATE_LETTERS = {
    psutil.STATUS_RUNNING: "R", psutil.STATUS_SLEEPING: "S",
    psutil.STATUS_DISK_SLEEP: "D", psutil.STATUS_STOPPED: "T",
    psutil.STATUS_TRACING_STOP: "t", psutil.STATUS_ZOMBIE: "Z", psutil.STATUS_DEAD: "X",
    psutil.STATUS_WAKING: "W", psutil.STATUS_IDLE: "I", psutil.STATUS_PARKED: "P",
    psutil.STATUS_LOCKED: "L", psutil.STATUS_WAITING: "W",
}

_ATTRS = ["pid", "ppid", "name", "cmdline", "username", "uids", "gids", "status",
          "memory_info", "memory_percent", "cpu_times", "create_time", "nice",
          "num_threads"]


def command_line(info: dict[str, Any]) -> str:
    """The command line as one string; kernel threads and zombies, which have none,
    show their name in brackets as ``ps`` does, so that they can still be matched."""
    argv = info.get("cmdline") or []
    return " ".join(argv) if argv else f"[{info.get('name') or '?'}]"


def process_entry(info: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """One ``pslist`` entry from a ``psutil.Process.info`` dict.

    Field names follow Ruby's sys-proctable (what Choria's agent returned): ``rss`` is
    in KiB and ``vsize`` in bytes, which is what the ``process_summary`` aggregate
    expects. ``pctcpu`` is the average over the process's lifetime, like ``ps``.
    """
    now = time.time() if now is None else now
    uids, gids, mem = info.get("uids"), info.get("gids"), info.get("memory_info")
    cpu, started = info.get("cpu_times"), info.get("create_time")
    status = info.get("status") or "unknown"
    pctcpu = 0.0
    if cpu is not None and started:
        elapsed = max(now - started, 1e-6)
        pctcpu = round(100.0 * (cpu.user + cpu.system) / elapsed, 2)
    return {
        "pid": info["pid"],
        "ppid": info.get("ppid"),
        "username": info.get("username") or (str(uids.real) if uids else None),
        "uid": uids.real if uids else None,
        "euid": uids.effective if uids else None,
        "gid": gids.real if gids else None,
        "egid": gids.effective if gids else None,
        "name": info.get("name"),
        "comm": info.get("name"),
        "cmdline": command_line(info),
        "state": STATE_LETTERS.get(status, "?"),
        "status": status,
        "rss": mem.rss // 1024 if mem else 0,
        "vsize": mem.vms if mem else 0,
        "pctmem": round(info.get("memory_percent") or 0.0, 2),
        "pctcpu": pctcpu,
        "nice": info.get("nice"),
        "nlwp": info.get("num_threads"),
        "starttime": int(started) if started else None,
    }


def resolve_uid(user: str) -> int | None:
    """A user name or numeric uid as a uid; ``None`` when no such user exists."""
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        pass
    if user.isdigit():
        return int(user)
    return None


class Process(Agent):
    """Lists operating system processes."""

    agent_name = "process"

    def list(self, request: AgentRequest, reply: AgentReply) -> None:
        pattern = request.get("pattern") or "."
        try:
            # RE2 (mcollective.regex): linear time whatever the pattern, so a pattern such
            # as (.*)*(.*)*x cannot hold the GIL and freeze the daemon.
            regex = bounded_regex.compile(pattern)
        except bounded_regex.PatternError as exc:
            raise InvalidRPCData(str(exc)) from None
        uid: int | None = None
        if request.get("user"):
            uid = resolve_uid(request["user"])
            if uid is None:  # as Choria: an unknown user owns no processes
                reply["pslist"] = []
                return
        zombies = bool(request.get("just_zombies"))
        now = time.time()
        found = []
        for proc in psutil.process_iter(_ATTRS, ad_value=None):
            info = proc.info
            if zombies and info.get("status") != psutil.STATUS_ZOMBIE:
                continue
            if uid is not None and (info.get("uids") is None or info["uids"].real != uid):
                continue
            if not regex.search(command_line(info)):
                continue
            found.append(process_entry(info, now))
        found.sort(key=lambda entry: entry["pid"])
        reply["pslist"] = found
