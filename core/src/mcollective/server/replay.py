"""The replay cache: a request id is acted on at most once per node while it is valid.

Signatures cover the whole request, but a signed request captured off the middleware can
be sent again unchanged; the TTL window alone (MCollective's and Choria's only defence)
accepts it until ``time + ttl``. The daemon therefore remembers the ids it has accepted
until their own window closes, and drops a second delivery as ``replayed``.

Bounded, and impossible to flush: at most ``capacity`` ids are held, and no caller may
hold more than ``per_caller`` of them. Entries leave only when their window closes (a
request older than that is refused by the TTL check anyway). An unexpired id is never
forgotten early: when the cache, or the caller's share of it, is full, the *new* request
is refused (``replay_full``) instead, so that a caller who fills the cache with long-lived
ids (any jwt user may send ``discovery#ping``) cannot make the node forget a captured
admin request and then replay it. The per-caller share keeps one caller from refusing
everybody else's requests that way.

Across restarts: a clean stop saves the unexpired ids in the state directory
(``replay-<identity>.json``) and the next start loads them. While running, that file
holds a "running" marker instead; a start that finds the marker (the previous run
crashed, its ids are lost) refuses every request sent before it started, so that
nothing captured during the previous run can be replayed. That alone leaves the requests
the crashed run accepted with a time *after* this start: those from a client whose
clock is ahead (by up to ``clock_skew``). So every request accepted with a time more
than :data:`JOURNAL_AHEAD` ahead of the node's clock is also appended to a journal
beside the file (``replay-<identity>.json.journal``, written through to the disk before
the action runs), and a start after a crash remembers those and refuses every request
sent before its start plus :data:`JOURNAL_AHEAD`. A request accepted at ``a`` with time
``t`` could only be replayed after a restart at ``s > a`` if ``t >= s + JOURNAL_AHEAD``,
so ``t > a + JOURNAL_AHEAD``: journalled. Clocks in step cost no disk write at all.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
from collections.abc import Hashable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Seconds: requests accepted with a time further ahead of the node's clock than this are
#: journalled; after a crash, requests sent before the start plus this are refused.
JOURNAL_AHEAD = 0.5


class ReplayCache:
    """Seen request keys with the wall-clock time their TTL window closes.

    ``capacity = 0`` switches the cache off (every request is new): only for
    measurements, never in production. ``per_caller`` (0: ``capacity``) bounds the ids one
    caller holds. Both bounds apply per *scope*: the first element of a tuple key, the
    node identity the daemon uses, so that a process answering for many identities (an
    emulator) gives each the same room a single node has.
    """

    def __init__(self, capacity: int, per_caller: int = 0) -> None:
        self.capacity = capacity
        self.per_caller = per_caller
        self._expiry: dict[Hashable, tuple[float, str]] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._callers: dict[tuple[Hashable, str], int] = {}
        self._scopes: dict[Hashable, int] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self.refused_full = 0
        self.rejected = 0
        self._journal: int | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def check_and_add(self, key: Hashable, expires: float, now: float,
                      caller: str = "", *, journal: bool = False) -> bool | None:
        """``True`` (and remember ``key`` until ``expires``) when ``key`` is new;
        ``False`` when it was seen before and its window is still open; ``None`` when it
        is new but the cache or ``caller``'s share of it is full of unexpired ids (the
        request must be refused: accepting it unremembered would allow its replay).

        ``journal``: also write a new key to the journal (see :meth:`open_journal`), for
        a request a start after a crash would not refuse by its time alone."""
        if self.capacity <= 0:
            return True
        with self._lock:
            self._purge(now)
            if key in self._expiry:
                self.rejected += 1
                return False
            scope = _scope(key)
            quota = min(self.per_caller or self.capacity, self.capacity)
            if (self._scopes.get(scope, 0) >= self.capacity
                    or self._callers.get((scope, caller), 0) >= quota):
                self.refused_full += 1
                return None
            self._expiry[key] = (expires, caller)
            self._scopes[scope] = self._scopes.get(scope, 0) + 1
            self._callers[(scope, caller)] = self._callers.get((scope, caller), 0) + 1
            self._seq += 1
            heapq.heappush(self._heap, (expires, self._seq, key))
            if journal and self._journal is not None:
                self._write_journal([_key_to_json(key), expires, caller])
            return True

    def _write_journal(self, entry: list[Any]) -> None:
        assert self._journal is not None
        try:
            os.write(self._journal, (json.dumps(entry) + "\n").encode("utf-8"))
            os.fsync(self._journal)
        except OSError as exc:
            log.warning("cannot write the replay journal: %s", exc.strerror or exc)

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            _, _, key = heapq.heappop(heap)
            entry = self._expiry.pop(key, None)
            if entry is not None:
                scope = _scope(key)
                _decrement(self._callers, (scope, entry[1]))
                _decrement(self._scopes, scope)

    def describe(self) -> dict[str, Any]:
        """What ``daemon_stats`` shows: size, capacity, the per-caller share, and how
        many new requests were refused because the cache or a caller's share was full
        (non-zero: ``replay_cache_size`` is small for the request rate, or a caller sends
        far more long-lived requests than others)."""
        with self._lock:
            return {"size": len(self._expiry), "capacity": self.capacity,
                    "per_caller": self.per_caller or self.capacity,
                    "callers": len({caller for _, caller in self._callers}),
                    "refused_full": self.refused_full}

    # --- across restarts --------------------------------------------------------------

    def save(self, path: Path, now: float) -> None:
        """Write the unexpired ids to ``path`` (mode 0600, atomically), for the next start
        of this daemon to remember them. Called on a clean stop."""
        with self._lock:
            self._purge(now)
            entries = self._entries_locked()
        _replace_file(path, json.dumps({"state": "stopped", "entries": entries}).encode())
        with self._lock:
            self._close_journal_locked()
        try:
            _journal_path(path).unlink()
        except FileNotFoundError:
            pass

    def mark_running(self, path: Path) -> None:
        """Replace ``path`` with a marker saying a daemon is running with the cache in
        memory only: if it finds this marker, the next start knows the last run did not
        stop cleanly (its ids are lost, but for those in the journal). Starts a new
        journal beside it, after writing what the cache holds now into it."""
        _replace_file(path, json.dumps({"state": "running"}).encode())
        self.open_journal(_journal_path(path))

    def open_journal(self, path: Path) -> None:
        """Start ``path`` afresh with the ids held now (those loaded at start), and
        append every id later added with ``journal=True``."""
        with self._lock:
            self._close_journal_locked()
            lines = "".join(json.dumps(e) + "\n" for e in self._entries_locked())
            _replace_file(path, lines.encode(), fsync=True)
            self._journal = os.open(path, os.O_WRONLY | os.O_APPEND)

    def _entries_locked(self) -> list[list[Any]]:
        """The held ids as JSON-ready ``[key, expires, caller]`` (lock held)."""
        return [[_key_to_json(key), expires, caller]
                for key, (expires, caller) in self._expiry.items()]

    def _close_journal_locked(self) -> None:
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None

    def load(self, path: Path, now: float) -> bool:
        """Remember the ids a previous run saved in ``path``. ``True`` when that run's
        ids are all known (it stopped cleanly, or there was no previous run); ``False``
        when they are lost (a crash, or an unreadable file): the daemon must then refuse
        requests sent before it started."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return True
        except (OSError, ValueError) as exc:
            log.warning("replay cache %s unreadable (%s): refusing requests sent before "
                        "this start", path, exc)
            return False
        if not isinstance(data, dict) or data.get("state") != "stopped":
            self._load_journal(_journal_path(path), now)
            return False
        entries = data.get("entries")
        if not isinstance(entries, list):
            return False
        self._add_entries(entries, now)
        return True

    def _load_journal(self, path: Path, now: float) -> None:
        """After a crash: the ids the crashed run journalled (sent with a time ahead of
        its clock, which refusing requests sent before this start would not cover)."""
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("replay journal %s unreadable: %s", path, exc.strerror or exc)
            return
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:  # a line cut short by the crash
                continue
        self._add_entries(entries, now)

    def _add_entries(self, entries: list[Any], now: float) -> None:
        for entry in entries:
            try:
                key, expires, caller = entry
                if float(expires) >= now:
                    self.check_and_add(_key_from_json(key), float(expires), now, str(caller))
            except (TypeError, ValueError):
                continue


def _replace_file(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` (mode 0600) atomically: a crash leaves the old file or
    the new one, never half of it."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        if fsync:
            os.fsync(out.fileno())
    os.replace(tmp, path)


def _journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def _scope(key: Hashable) -> Hashable:
    return key[0] if isinstance(key, tuple) and key else ""


def _decrement(counts: dict[Any, int], name: Any) -> None:
    left = counts.get(name, 1) - 1
    if left > 0:
        counts[name] = left
    else:
        counts.pop(name, None)


def _key_to_json(key: Hashable) -> Any:
    return list(key) if isinstance(key, tuple) else key


def _key_from_json(key: Any) -> Hashable:
    return tuple(key) if isinstance(key, list) else key
