"""The yaml facts source: merge the files, notice changes cheaply, keep the last good
facts when a file goes bad."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcollective.facts import FactsSource
from mcollective_facts_yaml.loader import FactsFileError, load_facts_file

log = logging.getLogger(__name__)

#: Seconds between two looks at the files' metadata. ``get`` runs for every filter
#: match, so it must not touch the disk each time; one ``stat`` per file per second
#: notices edits quickly enough.
CHECK_INTERVAL = 1.0

# (device, inode, size, mtime in ns); an atomic replace changes the inode even when
# size and mtime happen to match. None: the file does not exist.
_Stamp = tuple[int, int, int, int] | None


@dataclass(frozen=True)
class FactsFile:
    """One file to read facts from."""

    path: Path
    #: Listed in ``plugin.yaml`` (a missing one deserves a warning), rather than the
    #: default location (where no file simply means no facts).
    configured: bool


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        # Unreadable metadata (permissions): a stamp that changes with the error, so the
        # read is attempted and its failure reported.
        return (-1, -1, -1, exc.errno or 0)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class YamlFactsSource(FactsSource):
    """Facts from YAML files, later files overriding earlier ones key by key.

    :meth:`get` returns the same dict object for as long as the facts are unchanged
    (the core merger relies on that to skip work); callers must not modify it.
    """

    def __init__(self, files: Sequence[FactsFile], *, check_interval: float = CHECK_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.files = list(files)
        self._interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._facts: dict[str, Any] = {}
        self._stamps: tuple[_Stamp, ...] | None = None
        self._next_check = float("-inf")
        self._looked = False  # the files have been looked at at least once

    def get(self) -> dict[str, Any]:
        if self._clock() < self._next_check:
            return self._facts
        # While one thread re-reads the files, others answer with the facts already
        # loaded; only before the first load is there nothing to answer with.
        if not self._lock.acquire(blocking=not self._looked):
            return self._facts
        try:
            if self._clock() >= self._next_check:
                self._check()
                self._next_check = self._clock() + self._interval
                self._looked = True
        finally:
            self._lock.release()
        return self._facts

    def reload(self) -> None:
        """Re-read every file on the next :meth:`get`, changed or not."""
        with self._lock:
            self._stamps = None
            self._next_check = float("-inf")

    def _check(self) -> None:
        stamps = tuple(_stamp(f.path) for f in self.files)
        if stamps == self._stamps:
            return
        previous = self._stamps
        self._stamps = stamps  # also after a failure: report a bad file once, not each second
        merged: dict[str, Any] = {}
        for index, (facts_file, stamp) in enumerate(zip(self.files, stamps, strict=True)):
            if stamp is None:
                newly_missing = previous is None or previous[index] is not None
                if newly_missing:
                    self._report_missing(facts_file)
                continue
            try:
                merged.update(load_facts_file(facts_file.path))
            except FactsFileError as exc:
                log.warning("yaml facts: %s; keeping the last good facts", exc)
                return
        if merged != self._facts:
            self._facts = merged
            log.debug("yaml facts: loaded %d facts from %s", len(merged),
                      ", ".join(str(f.path) for f in self.files))

    @staticmethod
    def _report_missing(facts_file: FactsFile) -> None:
        if facts_file.configured:
            log.warning("yaml facts: %s (listed in plugin.yaml) does not exist; it adds "
                        "no facts", facts_file.path)
        else:
            log.debug("yaml facts: no facts file at the default location %s",
                      facts_file.path)
