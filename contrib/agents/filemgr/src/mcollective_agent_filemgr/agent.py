"""Touch, remove and inspect one file per request.

Every action works on the ``file`` input, or on ``plugin.filemgr.touch_file`` when the
request names none: an operator can check that a fleet answers by touching and
inspecting one well-known file, without naming it each time.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Any

from mcollective.agent import Agent, AgentContext, AgentReply, AgentRequest
from mcollective.errors import InvalidRPCData, RPCAborted

#: Where the actions point when neither the request nor the configuration names a file
#: (the path Choria's filemgr uses).
DEFAULT_TOUCH_FILE = "/var/run/mcollective.plugin.filemgr.touch"

#: Hashing stops this long before the action's deadline, so that the node still answers
#: with a clear message instead of being cut off by the daemon.
_DEADLINE_MARGIN = 0.5
_CHUNK = 1 << 20

_TYPES: tuple[tuple[Any, str], ...] = (
    (stat.S_ISLNK, "symlink"), (stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"),
    (stat.S_ISSOCK, "socket"), (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chardev"),
    (stat.S_ISBLK, "blockdev"),
)


def file_type(mode: int) -> str:
    """The filemgr name of a file's type, from its ``st_mode``."""
    for check, name in _TYPES:
        if check(mode):
            return name
    return "unknown"


def local_time(seconds: float) -> str:
    """A timestamp as Choria's filemgr printed it (Ruby's ``Time#to_s``)."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(seconds))


class Filemgr(Agent):
    """Touches, removes and describes files."""

    agent_name = "filemgr"

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        settings = self.config.plugin_config(
            "filemgr", {"touch_file": str, "activate_agent": str},
            {"touch_file": DEFAULT_TOUCH_FILE})
        self.touch_file: str = settings["touch_file"]

    # --- actions ----------------------------------------------------------------------

    def touch(self, request: AgentRequest, reply: AgentReply) -> None:
        path = self._path(request)
        try:
            path.touch(exist_ok=True)
        except OSError as exc:
            raise RPCAborted(f"Could not touch file '{path}': {_reason(exc)}") from None

    def remove(self, request: AgentRequest, reply: AgentReply) -> None:
        path = self._path(request)
        if not os.path.lexists(path):
            raise RPCAborted(f"Could not remove file '{path}' - it is not present")
        try:
            path.unlink()
        except OSError as exc:
            raise RPCAborted(f"Could not remove file '{path}': {_reason(exc)}") from None

    def status(self, request: AgentRequest, reply: AgentReply) -> None:
        path = self._path(request)
        reply["name"] = str(path)
        reply["output"] = "not present"
        reply["present"] = 0
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise RPCAborted(f"{path} does not exist") from None
        except OSError as exc:
            raise RPCAborted(f"Could not inspect '{path}': {_reason(exc)}") from None
        kind = file_type(st.st_mode)
        reply.data.update({
            "output": "present", "present": 1, "type": kind, "size": st.st_size,
            "mode": f"{st.st_mode:o}", "uid": st.st_uid, "gid": st.st_gid,
            "mtime": local_time(st.st_mtime), "ctime": local_time(st.st_ctime),
            "atime": local_time(st.st_atime), "mtime_seconds": int(st.st_mtime),
            "ctime_seconds": int(st.st_ctime), "atime_seconds": int(st.st_atime),
        })
        if kind == "file":
            reply["md5"] = self._md5(path, request)
        if kind == "directory" and request.get("dirlist"):
            try:
                reply["dir_listing"] = sorted(os.listdir(path))
            except OSError as exc:
                raise RPCAborted(f"Could not list '{path}': {_reason(exc)}") from None

    # --- helpers ------------------------------------------------------------------------

    def _path(self, request: AgentRequest) -> Path:
        """The file a request is about. Relative paths are refused: they would be taken
        from the daemon's working directory, which no caller can know."""
        name = request.get("file") or self.touch_file
        if not os.path.isabs(name):
            raise InvalidRPCData(f"file must be an absolute path, got '{name}'")
        return Path(name)

    @staticmethod
    def _md5(path: Path, request: AgentRequest) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    if request.cancelled.is_set() or request.remaining() < _DEADLINE_MARGIN:
                        raise RPCAborted(f"Could not compute the MD5 of '{path}' within "
                                         f"the agent's {request.timeout:g} second limit")
                    digest.update(chunk)
        except OSError as exc:
            raise RPCAborted(f"Could not read '{path}': {_reason(exc)}") from None
        return digest.hexdigest()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
