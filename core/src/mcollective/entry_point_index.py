"""Every installed entry point, read once and kept on disk between runs.

Finding plugins means reading every installed distribution's metadata, which costs an
interactive ``mco`` more than its request does: ``importlib.metadata`` and the ``email``
package it parses metadata with, then a directory listing and a file per distribution,
about a fifth of the instructions before the first byte is published (issue 14). A
command run a thousand times a day between two ``pip install``\\s would do that work a
thousand times for one answer.

So the answer is kept in a JSON file in the user's cache directory, named by a
fingerprint of everything that decides which entry points are installed: the
interpreter, each ``sys.path`` entry, and the names and modification times of the
``*.dist-info``/``*.egg-info`` directories and ``entry_points.txt`` files directly under
each (installing, upgrading or removing a distribution changes one of them; stevedore
keys its own cache much the same way). A stale index is never read, because the fingerprint
no longer names it; it is only read when this user owns it and nobody else can write
it, and any file that cannot be read or written is simply not used (the scan still
runs, in memory). ``importlib.metadata`` is imported only when the index is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

#: Bumped when the file's layout changes: an older file is then never read.
FORMAT = 1

#: Index files kept per cache directory (one per set of installed distributions seen
#: lately: several virtual environments, a pip install in between).
KEEP = 8

_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+)\s*)?(?:\[.*\]\s*)?$")


class EntryPoint(NamedTuple):
    """One entry point as installed: what ``importlib.metadata.EntryPoint`` says of it,
    plus its distribution's name and version (for errors and ``mco plugin list``)."""

    name: str
    value: str
    group: str
    distribution: str
    version: str

    @property
    def module(self) -> str:
        match = _VALUE.match(self.value)
        return match.group("module") if match else self.value.partition(":")[0].strip()

    def load(self) -> Any:
        """Import the module and return the object the entry point names, as
        ``importlib.metadata.EntryPoint.load`` does."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} of {self.distribution}: "
                             f"{self.value!r} is not 'module' or 'module:attribute'")
        obj: Any = importlib.import_module(match.group("module"))
        for part in (match.group("attr") or "").split("."):
            if part:
                obj = getattr(obj, part)
        return obj


Index = dict[str, tuple[EntryPoint, ...]]


def cache_directory(environ: Mapping[str, str] | None = None) -> str | None:
    """``$CACHE_DIRECTORY`` (systemd's ``CacheDirectory=``, its first entry), else
    ``$XDG_CACHE_HOME/mcollective``, else ``~/.cache/mcollective``; ``None`` when there
    is no home to put it in."""
    env = os.environ if environ is None else environ
    systemd = env.get("CACHE_DIRECTORY", "").split(":")[0]
    if systemd:
        return systemd
    base = env.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home == "~" or not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "mcollective")


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def fingerprint(path: Sequence[str]) -> str:
    """What names the index for ``path``: changes whenever a distribution is installed,
    upgraded or removed anywhere on it. The directories' own modification times are
    left out: the script's directory and the working directory are on the path too,
    and they change with every file written there."""
    digest = hashlib.sha256(f"{FORMAT}\0{sys.executable}\0{sys.prefix}".encode())
    for entry in path:
        directory = entry or "."
        digest.update(f"\0{entry}".encode())
        if directory.endswith((".egg", ".zip", ".whl")):  # the entry is a distribution
            digest.update(f"\0{_mtime(directory)}".encode())
            continue
        try:
            with os.scandir(directory) as listing:
                found = sorted(e.name for e in listing
                               if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for name in found:
            meta = os.path.join(directory, name)
            stamp = f"{_mtime(meta)}:{_mtime(os.path.join(meta, 'entry_points.txt'))}"
            digest.update(f"\0{name}\0{stamp}".encode())
    return digest.hexdigest()[:32]


def scan() -> Index:
    """Every entry point of every distribution importable now, by group. The first
    one found wins, as in ``importlib.metadata`` itself (an editable install seen twice
    on ``sys.path`` lists each entry point twice)."""
    import importlib.metadata

    groups: dict[str, dict[str, EntryPoint]] = {}
    for dist in importlib.metadata.distributions():
        eps = list(dist.entry_points)
        if not eps:
            continue
        name = dist.metadata["Name"] or "unknown"
        version = dist.version or "unknown"
        for ep in eps:
            groups.setdefault(ep.group, {}).setdefault(
                ep.name, EntryPoint(ep.name, ep.value, ep.group, name, version))
    return {group: tuple(eps.values()) for group, eps in groups.items()}


def _read(file: str) -> Index | None:
    try:
        with open(file, encoding="utf-8") as handle:
            st = os.fstat(handle.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                return None  # somebody else could have written which code we import
            doc = json.load(handle)
        if doc.get("format") != FORMAT:
            return None
        return {group: tuple(EntryPoint(n, v, group, d, ver) for n, v, d, ver in eps)
                for group, eps in doc["groups"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _write(directory: str, file: str, index: Index) -> None:
    doc = {"format": FORMAT, "python": sys.executable,
           "groups": {group: [[ep.name, ep.value, ep.distribution, ep.version] for ep in eps]
                      for group, eps in index.items()}}
    import tempfile

    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".entry-points-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, separators=(",", ":"))
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(directory, keep=file)
    except OSError:
        pass  # a read-only or full home: the next run scans again, nothing is lost


def _prune(directory: str, *, keep: str) -> None:
    try:
        with os.scandir(directory) as listing:
            files = [e for e in listing
                     if e.name.startswith("entry-points-") and e.name.endswith(".json")]
        files.sort(key=lambda e: e.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            if old.path != keep:
                os.unlink(old.path)
    except OSError:
        pass


def read_index(path: Sequence[str], cache_dir: str | None) -> Index:
    """The entry points installed for ``path``: from the cache directory's index when
    one matches, else scanned (and written there for the next run)."""
    if cache_dir is None:
        return scan()
    file = os.path.join(cache_dir, f"entry-points-{fingerprint(path)}.json")
    index = _read(file)
    if index is None:
        index = scan()
        _write(cache_dir, file, index)
    return index


def import_metadata_lazily() -> None:
    """Make ``import importlib.metadata`` cost nothing until the module is used.

    For libraries that import it at module level only for a function this project
    replaces (kombu's ``kombu.utils.compat``, for its entry-point scan): the module
    object is the standard library's lazy one (:class:`importlib.util.LazyLoader`),
    whose code runs on the first attribute anybody reads. Nothing happens when it is
    imported already. Called from one thread, before any other thread could use it
    (Python 3.11's lazy modules do not lock their loading)."""
    if "importlib.metadata" in sys.modules:
        return
    import importlib.util

    spec = importlib.util.find_spec("importlib.metadata")
    if spec is None or spec.loader is None:  # pragma: no cover - always in the stdlib
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["importlib.metadata"] = module
    loader.exec_module(module)
    importlib.metadata = module  # as an import binds it
