"""Reading a ``facts.d`` directory the way Facter does, in the background."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mcollective.facts_cache import (
    BackgroundFactsSource,
    FactsCommandError,
    failed,
    run_facts_command,
)

log = logging.getLogger(__name__)

#: Data files by extension; any other file is run when it is executable.
DATA_EXTENSIONS = (".yaml", ".yml", ".json", ".txt")
#: Skipped like Facter and package managers leave them: editor and package backups.
_SKIPPED = re.compile(r"(^\.|~$|\.(bak|swp|orig|rej|dpkg-[a-z]+|rpm[a-z]+|ucf-[a-z]+)$)")
_KEY_VALUE = re.compile(r"^\s*([^=\s][^=]*?)\s*=(.*)$")
#: Largest data file read (bytes).
MAX_FILE_BYTES = 16 * 1024 * 1024


class ExternalFactError(Exception):
    """One file's facts could not be read; the message names the file."""


def parse_key_value(text: str, what: str) -> dict[str, Any]:
    """``key=value`` lines (blank lines and ``#`` comments ignored); values are
    strings, as Facter keeps them."""
    facts: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY_VALUE.match(line)
        if match is None:
            raise ExternalFactError(f"{what} line {number}: expected key=value, got "
                                    f"{line.strip()[:80]!r}")
        facts[match.group(1)] = match.group(2).strip()
    return facts


def _mapping(data: Any, what: str, kind: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ExternalFactError(f"{what}: {kind} must be a mapping of fact names, "
                                f"not {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def parse_data_file(path: Path) -> dict[str, Any]:
    """The facts of a ``.yaml``, ``.yml``, ``.json`` or ``.txt`` file."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ExternalFactError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExternalFactError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ExternalFactError(f"{path}: not UTF-8 text: {exc.reason}") from None
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return parse_key_value(text, str(path))
    if suffix == ".json":
        try:
            return _mapping(json.loads(text), str(path), "JSON")
        except ValueError as exc:
            raise ExternalFactError(f"{path}: invalid JSON: {exc}") from None
    try:
        return _mapping(yaml.safe_load(text), str(path), "YAML")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ExternalFactError(f"{path}{where}: invalid YAML: {problem}") from None


def parse_output(text: str, what: str) -> dict[str, Any]:
    """An executable's output: a JSON object, else a YAML mapping, else ``key=value``
    lines (the formats Facter accepts)."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        pass
    else:
        if isinstance(data, dict):
            return {str(k): v for k, v in data.items()}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and not all(
            isinstance(v, str) and "=" in k for k, v in data.items()):
        return {str(k): v for k, v in data.items()}
    return parse_key_value(text, what)


class ExternalFactsSource(BackgroundFactsSource):
    """The facts of ``directories``, read in the background every ``cache_time``.

    Files are read in name order, directory by directory; a later file overrides an
    earlier one key by key. A file that fails (bad syntax, an executable that exits
    non-zero or outlives ``timeout``) keeps the facts it gave last time, and the error
    is logged and kept for ``daemon_stats``.
    """

    def __init__(self, directories: Sequence[Path], *, cache_time: float,
                 timeout: float, max_files: int = 1000) -> None:
        super().__init__("external", cache_time)
        self.directories = list(directories)
        self.timeout = timeout
        self.max_files = max_files
        self._last_good: dict[Path, dict[str, Any]] = {}
        self._errors: dict[str, str] = {}
        self._errors_lock = threading.Lock()

    def files(self) -> list[Path]:
        found: list[Path] = []
        for directory in self.directories:
            try:
                entries = sorted(directory.iterdir(), key=lambda p: p.name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("external facts: %s: cannot list: %s", directory, exc.strerror)
                continue
            for path in entries:
                if _SKIPPED.search(path.name) or not path.is_file():
                    continue
                if path.suffix.lower() in DATA_EXTENSIONS or os.access(path, os.X_OK):
                    found.append(path)
                else:
                    log.debug("external facts: %s is neither a data file nor "
                              "executable; skipped", path)
        if len(found) > self.max_files:
            log.warning("external facts: %d files, only the first %d are read",
                        len(found), self.max_files)
            found = found[:self.max_files]
        return found

    def read(self, path: Path) -> dict[str, Any]:
        if path.suffix.lower() in DATA_EXTENSIONS:
            return parse_data_file(path)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ExternalFactError(f"{path}: {exc.strerror}") from None
        if mode & stat.S_IWOTH:
            # Anyone could make the daemon run anything: refuse, as sudo and cron do.
            raise ExternalFactError(f"{path}: writable by everyone, not run "
                                    "(chmod o-w)")
        try:
            code, out, err = run_facts_command([str(path)], timeout=self.timeout,
                                               cwd=str(path.parent))
        except FactsCommandError as exc:
            raise ExternalFactError(f"{path}: {exc}") from None
        if code != 0:
            raise ExternalFactError(f"{path}: {failed([path.name], code, err)}")
        return parse_output(out, str(path))

    def load(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        seen: set[Path] = set()
        errors: dict[str, str] = {}
        for path in self.files():
            seen.add(path)
            try:
                found = self.read(path)
            except ExternalFactError as exc:
                errors[str(path)] = str(exc)
                if self._errors.get(str(path)) != str(exc):
                    log.warning("external facts: %s%s", exc,
                                " (keeping its last good facts)"
                                if path in self._last_good else "")
                found = self._last_good.get(path, {})
            else:
                if str(path) in self._errors:
                    log.info("external facts: %s works again", path)
                self._last_good[path] = found
            facts.update(found)
        for gone in set(self._last_good) - seen:
            del self._last_good[gone]
        with self._errors_lock:
            self._errors = errors
        return facts

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["directories"] = [str(d) for d in self.directories]
        out["timeout"] = self.timeout
        with self._errors_lock:
            out["file_errors"] = dict(self._errors)
        return out
