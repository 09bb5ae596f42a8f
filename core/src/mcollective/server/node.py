"""What a node is, as filters see it: identity, facts, classes, agents."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class ClassesFile:
    """Reads the ``classesfile`` (one class per line), again only when it changed.

    An unreadable file means no classes; that is logged once per change of state so a
    node without Puppet does not fill its log.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._key: tuple[int, int] | None = None
        self._classes: list[str] = []
        self._warned = False
        self._lock = threading.Lock()

    def get(self) -> list[str]:
        with self._lock:
            try:
                st = self.path.stat()
            except OSError:
                if not self._warned:
                    log.debug("classes file %s not readable; node has no classes", self.path)
                    self._warned = True
                self._key, self._classes = None, []
                return self._classes
            key = (st.st_mtime_ns, st.st_size)
            if key != self._key:
                try:
                    text = self.path.read_text(encoding="utf-8", errors="replace")
                except OSError as exc:
                    log.warning("cannot read classes file %s: %s", self.path, exc)
                    return self._classes
                self._classes = [ln.strip() for ln in text.splitlines() if ln.strip()]
                self._key, self._warned = key, False
            return self._classes
