"""``fstat('/path')``: whether a file exists, and its size, mode, owner, times and digest."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from collections.abc import Iterator, Mapping
from typing import Any

from mcollective.data import DataPlugin, LazyOutputs
from mcollective.log import untrusted

log = logging.getLogger(__name__)

_TYPES = (
    (stat.S_ISDIR, "directory"), (stat.S_ISREG, "file"), (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "chardev"), (stat.S_ISBLK, "blockdev"),
)


class FstatResult(LazyOutputs):
    """The outputs of one ``fstat`` query. ``md5`` is computed only when it is read:
    a filter on ``size`` or ``present`` must not read a multi-gigabyte log file. Reading
    it is bounded like the query (the DDL timeout, and the filter's time left): a file
    too large to digest in time (``/proc/kcore`` to a root daemon) has ``md5`` ``None``."""

    def __init__(self, path: str, values: dict[str, Any], digestible: bool) -> None:
        self._path = path
        self._values = values
        self._digestible = digestible

    def __getitem__(self, key: str) -> Any:
        if key == "md5" and "md5" not in self._values:
            self._values["md5"] = (_md5(self._path, self.read_deadline())
                                   if self._digestible else None)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        if "md5" not in self._values:
            yield "md5"

    def __len__(self) -> int:
        return len(self._values) + (0 if "md5" in self._values else 1)


def _md5(path: str, deadline: float) -> str | None:
    """The file's digest, or ``None`` when it cannot be read or reading it would go on
    past ``deadline`` (``time.monotonic()``)."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                if time.monotonic() > deadline:
                    log.info("fstat: gave up digesting %s: not done in time", untrusted(path))
                    return None
    except OSError:
        return None
    return digest.hexdigest()


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


class FstatData(DataPlugin):
    """File facts for ``-S "fstat('/etc/hosts').size>0"`` and ``rpcutil get_data``.

    Symbolic links are followed (a dangling link is "not present"); ``type`` is
    ``symlink`` when the path itself is a link, the other outputs describe its target.
    """

    name = "fstat"

    def run(self, argument: Any) -> Mapping[str, Any]:
        path = str(argument)
        base: dict[str, Any] = {"name": path, "output": "not present", "present": 0}
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return FstatResult(path, {**base, "md5": None}, False)
        now = time.time()
        values = {**base, "output": "present", "present": 1, "size": st.st_size,
                  "mode": f"{st.st_mode:o}", "uid": st.st_uid, "gid": st.st_gid,
                  "type": _type(path, st.st_mode)}
        for name, seconds in (("mtime", st.st_mtime), ("ctime", st.st_ctime),
                              ("atime", st.st_atime)):
            values[name] = _stamp(seconds)
            values[f"{name}_seconds"] = int(seconds)
            values[f"{name}_age"] = int(now - seconds)
        return FstatResult(path, values, stat.S_ISREG(st.st_mode))


def _type(path: str, mode: int) -> str:
    if os.path.islink(path):
        return "symlink"
    for test, name in _TYPES:
        if test(mode):
            return name
    return "unknown"
