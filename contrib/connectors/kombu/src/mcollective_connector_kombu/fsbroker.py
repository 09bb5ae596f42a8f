"""A message broker made of directories: the storage behind the embedded transport.

This module knows nothing about kombu; :mod:`.fstransport` adapts it to kombu's virtual
transport API. Everything here is safe to use from several processes (and threads) on
one machine at once, and survives any of them being killed at any moment.

Why not kombu's stock ``filesystem://``: it writes a message under its final name and
then fills it in (a fast reader can take an empty file: the message is lost), keeps all
queues in one folder that every poll lists and sorts (O(files) per poll and queue),
names files by millisecond so messages published in the same millisecond come out of
order, and never removes the queues or bindings of processes that went away.

Layout under the root directory::

    queues/<queue>/                       one directory per queue
        <time_ns>-<pid>.msg               a message; names sort in publish order
        .<name>.tmp                       a message being written (renamed when done)
        .<name>.<reader>.claim            a message taken by a reader (then deleted)
        .owners/<session>                 live sessions keeping the queue (auto-delete)
        .bindings/<exchange>+<key>        mirror of this queue's bindings, for deletion
        .bell -> ../../sessions/<s>.bell  the consuming session's doorbell (a FIFO)
    bindings/<exchange>/<key>/<queue>     one empty file per binding
    exchanges/<exchange>                  the exchange's type (direct, topic, fanout)
    sessions/<session>.lock               flock()ed by its session for its lifetime
    sessions/<session>.bell               that session's doorbell FIFO
    trash/                                queues being deleted
    .meta.lock, .janitor.lock             serialise declare/bind/delete, and sweeps
    .janitor.last                         when the last sweep ran (its mtime)

Guarantees and how they are kept:

* **No torn reads**: a message is written to a dot-name and ``os.replace``\\ d to its
  final name, so readers only ever see complete files.
* **Order**: names are ``<time_ns>-<pid>.msg`` with the time strictly increasing within a
  process, so one publisher's messages are read in the order it sent them.
* **Exactly one reader gets a message**: a reader takes a message by renaming it to a
  name of its own; only one rename of a file can succeed.
* **Publishing to a deleted queue drops the message**: the temporary file is created
  inside the queue's directory, which is never re-created by a publisher.
* **Dead processes are cleaned up**: a queue declared auto-delete or exclusive lists its
  owning sessions; a session holds an ``flock`` on its lock file for as long as it lives
  (the kernel releases it when the process dies, even on SIGKILL). The janitor
  (:meth:`FsBroker.sweep`), run by every consumer on connect and periodically, deletes
  queues whose owners are all dead, with their bindings, and the dead sessions' files.
* **Low latency without busy polling**: each consuming session has a doorbell FIFO;
  after delivering a message a publisher writes the queue's name into the doorbell of
  the session consuming it, which wakes at once from ``select()``. Polling remains only
  as a fallback for a missed ring.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

log = logging.getLogger(__name__)

#: Files the janitor removes when they are older than this (seconds): half-written
#: messages of a crashed publisher, claimed messages of a crashed reader.
STALE_AFTER = 60.0

_MSG_SUFFIX = ".msg"
_SEP = "+"  # between exchange and key in a queue's binding mirror; quote() escapes it


class FsBrokerError(Exception):
    """An operation the broker refuses (unknown queue, queue owned by another session,
    exchange redeclared with another type). Filesystem failures raise ``OSError``."""


def encode_name(name: str) -> str:
    """A queue, exchange or routing key as a single safe file name.

    Percent-encoding keeps dots, dashes, ``*`` and ``#`` readable, and can never yield a
    path separator; a leading dot is escaped so that names never hide among (or become)
    the broker's own dot-files, and the empty name gets a spelling of its own.
    """
    encoded = quote(name, safe="*#")
    if not encoded:
        return "%"
    if encoded[0] == ".":
        encoded = "%2E" + encoded[1:]
    return encoded


def decode_name(encoded: str) -> str:
    return "" if encoded == "%" else unquote(encoded)


# --- process-wide state ----------------------------------------------------------------

_clock_lock = threading.Lock()
_last_ns = 0

#: Sessions alive in this process, by token: the janitor never asks the kernel about
#: them (on filesystems where flock() is per process it would wrongly succeed).
_own_sessions: dict[str, Session] = {}
_fork_hook_installed = False


def _next_message_name() -> str:
    """``<time_ns>-<pid>.msg`` with time strictly increasing within this process."""
    global _last_ns
    with _clock_lock:
        now = time.time_ns()
        _last_ns = now if now > _last_ns else _last_ns + 1
        return f"{_last_ns:020d}-{os.getpid()}{_MSG_SUFFIX}"


def _forget_sessions_in_child() -> None:
    # A forked child must not keep its parent's sessions alive (it inherited the locked
    # file descriptors), nor believe it owns them.
    for session in list(_own_sessions.values()):
        session.abandon()
    _own_sessions.clear()


def _install_fork_hook() -> None:
    global _fork_hook_installed
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_forget_sessions_in_child)
        _fork_hook_installed = True


# --- sessions -----------------------------------------------------------------------


@dataclass(eq=False)
class Session:
    """One live participant (a kombu connection): its lock, doorbell and owned queues."""

    token: str
    pid: int
    lock_fd: int
    bell_path: str
    bell_fd: int  # read end, non-blocking
    bell_keepalive_fd: int  # our own write end, so the read end never sees EOF
    owned: set[str] = field(default_factory=set)

    def abandon(self) -> None:
        """Close our descriptors without touching files (after fork, in the child)."""
        for fd in (self.lock_fd, self.bell_fd, self.bell_keepalive_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.lock_fd = self.bell_fd = self.bell_keepalive_fd = -1

    def read_bell(self) -> bytes:
        """Everything rung since the last read (non-blocking)."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.bell_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunk) < 65536:
                break
        return b"".join(chunks)

    def ring_self(self) -> None:
        """Wake our own consumer (used to interrupt a wait)."""
        with contextlib.suppress(OSError):
            os.write(self.bell_keepalive_fd, b"\n")


# --- the broker ---------------------------------------------------------------------


class FsBroker:
    """Queues, bindings, sessions and the janitor under one root directory.

    One instance per kombu connection; all state that matters lives in the filesystem,
    so any number of instances, in any number of processes, can share a root.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.queues_dir = os.path.join(self.root, "queues")
        self.bindings_dir = os.path.join(self.root, "bindings")
        self.exchanges_dir = os.path.join(self.root, "exchanges")
        self.sessions_dir = os.path.join(self.root, "sessions")
        self.trash_dir = os.path.join(self.root, "trash")
        self._reader = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._pending: dict[str, deque[str]] = {}
        #: Messages dropped because their queue no longer exists; queues swept.
        self.stats = {"dropped": 0, "swept_queues": 0, "swept_sessions": 0}

    # --- layout and locks -------------------------------------------------------------

    def ensure_layout(self) -> None:
        """Create the directory tree (idempotent); raises OSError if it cannot."""
        for path in (self.queues_dir, self.bindings_dir, self.exchanges_dir,
                     self.sessions_dir, self.trash_dir):
            os.makedirs(path, exist_ok=True)
        if not os.access(self.queues_dir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable", self.queues_dir)

    @contextlib.contextmanager
    def _flock(self, name: str, *, blocking: bool = True) -> Iterator[bool]:
        fd = os.open(os.path.join(self.root, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _meta_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Serialises structural changes: queue create/delete, owners, bindings."""
        return self._flock(".meta.lock")

    def queue_dir(self, queue: str) -> str:
        return os.path.join(self.queues_dir, encode_name(queue))

    # --- sessions ---------------------------------------------------------------------

    def open_session(self) -> Session:
        """Start a session: an flock()ed lock file (proof of life) and a doorbell FIFO.

        The lock file is locked under a temporary name and renamed into place, so the
        janitor can never see it unlocked while its owner lives.
        """
        _install_fork_hook()
        token = f"{os.getpid()}-{secrets.token_hex(6)}"
        lock_path = os.path.join(self.sessions_dir, f"{token}.lock")
        tmp = os.path.join(self.sessions_dir, f".{token}.tmp")
        lock_fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, lock_path)
            bell_path = os.path.join(self.sessions_dir, f"{token}.bell")
            os.mkfifo(bell_path, 0o666)
            bell_fd = os.open(bell_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            keep_fd = os.open(bell_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except BaseException:
            os.close(lock_fd)
            for path in (tmp, lock_path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise
        session = Session(token, os.getpid(), lock_fd, bell_path, bell_fd, keep_fd)
        _own_sessions[token] = session
        return session

    def close_session(self, session: Session) -> None:
        """End a session: release its queues (deleting those no one else owns), its
        doorbell and its lock. Does nothing in a forked child."""
        if session.pid != os.getpid() or session.lock_fd < 0:
            return
        for queue in sorted(session.owned):
            try:
                self.release_queue(queue, session.token)
            except OSError as exc:
                log.warning("could not release queue %s: %s", queue, exc)
        session.owned.clear()
        _own_sessions.pop(session.token, None)
        for path in (session.bell_path,
                     os.path.join(self.sessions_dir, f"{session.token}.lock")):
            with contextlib.suppress(OSError):
                os.unlink(path)
        session.abandon()

    def abandon_session(self, session: Session) -> None:
        """Let ``session`` die as if its process had been killed: its lock is released
        and nothing is cleaned up (crash tests; the janitor must do the rest)."""
        _own_sessions.pop(session.token, None)
        session.abandon()

    def refresh_session(self, session: Session) -> None:
        """Touch the session's files, so that no age-based cleaner (tmpfiles.d and
        the like) ever removes the lock file of a process that is still running."""
        for path in (os.path.join(self.sessions_dir, f"{session.token}.lock"),
                     session.bell_path):
            with contextlib.suppress(OSError):
                os.utime(path)

    def session_alive(self, token: str) -> bool:
        """Whether the session still holds its lock; removes a dead session's files."""
        if token in _own_sessions:
            return True
        lock_path = os.path.join(self.sessions_dir, f"{token}.lock")
        try:
            fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            # Dead. Tidy up while we hold its lock.
            for path in (lock_path, os.path.join(self.sessions_dir, f"{token}.bell")):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            self.stats["swept_sessions"] += 1
            return False
        finally:
            os.close(fd)

    # --- exchanges --------------------------------------------------------------------

    def declare_exchange(self, exchange: str, kind: str) -> None:
        """Record the exchange's type so that publishers in other processes route by
        it even if they did not declare it themselves."""
        path = os.path.join(self.exchanges_dir, encode_name(exchange))
        existing = self.exchange_type(exchange)
        if existing == kind:
            return
        if existing is not None:
            raise FsBrokerError(
                f"PRECONDITION_FAILED - exchange {exchange!r} exists with type "
                f"{existing!r}, cannot redeclare it as {kind!r}")
        tmp = f"{path}.{secrets.token_hex(4)}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(kind)
        os.replace(tmp, path)

    def exchange_type(self, exchange: str) -> str | None:
        try:
            with open(os.path.join(self.exchanges_dir, encode_name(exchange)),
                      encoding="ascii") as fh:
                return fh.read().strip() or None
        except FileNotFoundError:
            return None

    # --- queues -----------------------------------------------------------------------

    def has_queue(self, queue: str) -> bool:
        return os.path.isdir(self.queue_dir(queue))

    def declare_queue(self, queue: str, *, owner: str | None = None,
                      exclusive: bool = False) -> bool:
        """Create ``queue`` if needed; return whether it was created.

        ``owner``: the session token that keeps the queue alive (auto-delete and
        exclusive queues); ``None`` makes a durable queue the janitor never removes.
        ``exclusive``: refuse if another live session owns the queue.
        """
        qdir = self.queue_dir(queue)
        with self._meta_lock():
            if os.path.isdir(qdir):
                if owner is not None:
                    owners_dir = os.path.join(qdir, ".owners")
                    if exclusive:
                        others = [t for t in _listdir(owners_dir)
                                  if t != owner and self.session_alive(t)]
                        if others:
                            raise FsBrokerError(
                                f"RESOURCE_LOCKED - queue {queue!r} is used exclusively "
                                f"by another process (session {others[0]})")
                    os.makedirs(owners_dir, exist_ok=True)
                    _touch(os.path.join(owners_dir, owner))
                return False
            # Build it aside and rename it into place, so that nobody (the janitor in
            # particular) ever sees a queue without its owner.
            tmp = os.path.join(self.queues_dir, f".new-{secrets.token_hex(6)}")
            os.mkdir(tmp)
            try:
                os.mkdir(os.path.join(tmp, ".bindings"))
                if owner is not None:
                    os.mkdir(os.path.join(tmp, ".owners"))
                    _touch(os.path.join(tmp, ".owners", owner))
                os.rename(tmp, qdir)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return True

    def release_queue(self, queue: str, owner: str) -> bool:
        """Drop ``owner`` from the queue's owners; delete the queue if no live owner is
        left (auto-delete). Returns whether the queue was deleted."""
        qdir = self.queue_dir(queue)
        with self._meta_lock():
            owners_dir = os.path.join(qdir, ".owners")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(owners_dir, owner))
            if not os.path.isdir(owners_dir):
                return False
            if any(self.session_alive(t) for t in _listdir(owners_dir)):
                return False
            trash = self._unlink_queue_locked(queue)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)
        return trash is not None

    def delete_queue(self, queue: str) -> bool:
        """Delete a queue, its messages and its bindings (whoever owns it)."""
        with self._meta_lock():
            trash = self._unlink_queue_locked(queue)
        self._pending.pop(queue, None)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)
        return trash is not None

    def _unlink_queue_locked(self, queue: str) -> str | None:
        """Move the queue out of sight (publishers drop from then on) and remove its
        bindings. Called with the meta lock held; returns the directory to delete."""
        qdir = self.queue_dir(queue)
        trash = os.path.join(self.trash_dir,
                             f"{encode_name(queue)}.{secrets.token_hex(4)}")
        try:
            os.rename(qdir, trash)
        except FileNotFoundError:
            return None
        self._remove_mirrored_bindings(trash, encode_name(queue))
        return trash

    def _remove_mirrored_bindings(self, qdir: str, encoded_queue: str) -> None:
        for entry in _listdir(os.path.join(qdir, ".bindings")):
            exchange, _, key = entry.partition(_SEP)
            keydir = os.path.join(self.bindings_dir, exchange, key)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(keydir, encoded_queue))
            _rmdir_if_empty(keydir)

    def size(self, queue: str) -> int:
        return sum(1 for n in _listdir(self.queue_dir(queue)) if _is_message(n))

    def purge(self, queue: str) -> int:
        qdir = self.queue_dir(queue)
        count = 0
        for name in _listdir(qdir):
            if _is_message(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(qdir, name))
                    count += 1
        self._pending.pop(queue, None)
        return count

    # --- bindings ---------------------------------------------------------------------

    def bind(self, exchange: str, key: str, queue: str) -> None:
        qdir = self.queue_dir(queue)
        ex, k, q = encode_name(exchange), encode_name(key), encode_name(queue)
        with self._meta_lock():
            if not os.path.isdir(qdir):
                raise FsBrokerError(f"NOT_FOUND - no queue {queue!r}")
            keydir = os.path.join(self.bindings_dir, ex, k)
            os.makedirs(keydir, exist_ok=True)
            _touch(os.path.join(keydir, q))
            os.makedirs(os.path.join(qdir, ".bindings"), exist_ok=True)
            _touch(os.path.join(qdir, ".bindings", f"{ex}{_SEP}{k}"))

    def unbind(self, exchange: str, key: str, queue: str) -> None:
        ex, k, q = encode_name(exchange), encode_name(key), encode_name(queue)
        with self._meta_lock():
            keydir = os.path.join(self.bindings_dir, ex, k)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(keydir, q))
            _rmdir_if_empty(keydir)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.queue_dir(queue), ".bindings", f"{ex}{_SEP}{k}"))

    def bindings(self, exchange: str) -> list[tuple[str, str]]:
        """Every ``(key, queue)`` bound to ``exchange``."""
        exdir = os.path.join(self.bindings_dir, encode_name(exchange))
        return [(decode_name(k), decode_name(q))
                for k in _listdir(exdir) for q in _listdir(os.path.join(exdir, k))]

    def lookup(self, exchange: str, routing_key: str, kind: str,
               match: Callable[[str, str], bool]) -> list[str]:
        """The queues a message to ``exchange`` with ``routing_key`` goes to.

        Direct routing reads one key directory; topic routing matches the (few)
        distinct binding keys, then reads only the matching key directories.
        """
        exdir = os.path.join(self.bindings_dir, encode_name(exchange))
        if kind == "direct":
            keys = [encode_name(routing_key)]
        elif kind == "topic":
            keys = [k for k in _listdir(exdir) if match(decode_name(k), routing_key)]
        else:  # fanout
            keys = _listdir(exdir)
        queues: set[str] = set()
        for k in keys:
            queues.update(_listdir(os.path.join(exdir, k)))
        return [decode_name(q) for q in sorted(queues)]

    # --- messages ---------------------------------------------------------------------

    def put(self, queue: str, data: bytes) -> bool:
        """Deliver ``data`` to ``queue``; False (and dropped) if the queue is gone."""
        qdir = self.queue_dir(queue)
        name = _next_message_name()
        tmp = os.path.join(qdir, f".{name}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            self.stats["dropped"] += 1
            return False
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        try:
            os.replace(tmp, os.path.join(qdir, name))
        except FileNotFoundError:  # the queue was deleted meanwhile
            self.stats["dropped"] += 1
            return False
        self._ring(qdir, queue)
        return True

    def _ring(self, qdir: str, queue: str) -> None:
        """Tell the consuming session, if any, that ``queue`` has a message. Best
        effort: a missed ring only delays delivery until the consumer's next poll."""
        try:
            fd = os.open(os.path.join(qdir, ".bell"),
                         os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:  # no consumer, or it went away (ENOENT, ENXIO)
            return
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, encode_name(queue).encode() + b"\n")
        except OSError:  # doorbell full (EAGAIN) or reader gone (EPIPE)
            pass
        finally:
            os.close(fd)

    def claim(self, queue: str) -> bytes | None:
        """Take the oldest message of ``queue``, or None if there is none.

        The directory is listed only when the names from the last listing are used
        up; a message is taken by renaming it, which only one reader can do.
        """
        qdir = self.queue_dir(queue)
        pending = self._pending.get(queue)
        while True:
            if not pending:
                try:
                    names = sorted(n for n in os.listdir(qdir) if _is_message(n))
                except FileNotFoundError:
                    self._pending.pop(queue, None)
                    return None
                if not names:
                    self._pending.pop(queue, None)
                    return None
                pending = self._pending[queue] = deque(names)
            name = pending.popleft()
            claimed = os.path.join(qdir, f".{name}.{self._reader}.claim")
            try:
                os.rename(os.path.join(qdir, name), claimed)
            except FileNotFoundError:  # another reader was first
                continue
            try:
                with open(claimed, "rb") as fh:
                    return fh.read()
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(claimed)

    def forget(self, queue: str) -> None:
        """Drop what this instance remembers of a queue's listing."""
        self._pending.pop(queue, None)

    # --- doorbells --------------------------------------------------------------------

    def set_bell(self, queue: str, session: Session) -> None:
        """Make publishers to ``queue`` ring ``session``'s doorbell."""
        qdir = self.queue_dir(queue)
        if not os.path.isdir(qdir):
            raise FsBrokerError(f"NOT_FOUND - no queue {queue!r}")
        target = os.path.join("..", "..", "sessions", os.path.basename(session.bell_path))
        tmp = os.path.join(qdir, f".bell.{session.token}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, os.path.join(qdir, ".bell"))

    def clear_bell(self, queue: str, session: Session) -> None:
        bell = os.path.join(self.queue_dir(queue), ".bell")
        with contextlib.suppress(OSError):
            if os.path.basename(os.readlink(bell)) == os.path.basename(session.bell_path):
                os.unlink(bell)

    # --- the janitor ------------------------------------------------------------------

    def sweep(self, *, stale_after: float = STALE_AFTER, min_interval: float = 0.0) -> int:
        """Delete queues whose owners are all dead, with their bindings; remove dead
        sessions' files, leftovers of interrupted deletions and stale temporary files.

        Safe to run from any number of processes: a sweep already running elsewhere
        makes this one return at once, and so does one that any process completed less
        than ``min_interval`` seconds ago (many consumers then share the work).
        Returns the number of queues deleted.
        """
        with self._flock(".janitor.lock", blocking=False) as locked:
            if not locked:
                return 0
            now = time.time()
            stamp = os.path.join(self.root, ".janitor.last")
            if min_interval and now - _mtime(stamp, default=0.0) < min_interval:
                return 0
            _touch(stamp)
            os.utime(stamp)
            removed = 0
            alive: dict[str, bool] = {}

            def is_alive(token: str) -> bool:
                if token not in alive:
                    alive[token] = self.session_alive(token)
                return alive[token]

            for entry in _listdir(self.queues_dir):
                qdir = os.path.join(self.queues_dir, entry)
                if entry.startswith("."):  # a creation interrupted by a crash
                    if _older_than(qdir, now - stale_after):
                        shutil.rmtree(qdir, ignore_errors=True)
                    continue
                if self._sweep_queue(entry, qdir, is_alive):
                    removed += 1
                    continue
                self._sweep_stale_files(qdir, now - stale_after)
            for name in _listdir(self.sessions_dir):
                path = os.path.join(self.sessions_dir, name)
                if name.endswith(".lock"):
                    is_alive(name[: -len(".lock")])
                elif name.endswith(".bell"):
                    token = name[: -len(".bell")]
                    if not os.path.exists(os.path.join(self.sessions_dir, f"{token}.lock")):
                        with contextlib.suppress(OSError):
                            os.unlink(path)
                elif name.startswith(".") and _older_than(path, now - stale_after):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            self._sweep_trash()
            self.stats["swept_queues"] += removed
            return removed

    def _sweep_queue(self, entry: str, qdir: str, is_alive: Callable[[str], bool]) -> bool:
        owners_dir = os.path.join(qdir, ".owners")
        try:
            owners = os.listdir(owners_dir)
        except (FileNotFoundError, NotADirectoryError):
            return False  # durable queue (or already gone)
        dead = [t for t in owners if not is_alive(t)]
        if len(dead) < len(owners):
            for token in dead:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(owners_dir, token))
            return False
        queue = decode_name(entry)
        with self._meta_lock():
            # Look again under the lock: a live process may have just joined.
            if any(self.session_alive(t) for t in _listdir(owners_dir)):
                return False
            if not os.path.isdir(owners_dir):
                return False
            trash = self._unlink_queue_locked(queue)
        if trash is None:
            return False
        shutil.rmtree(trash, ignore_errors=True)
        log.info("removed queue %s: its owners are gone", queue)
        return True

    def _sweep_stale_files(self, qdir: str, cutoff: float) -> None:
        for name in _listdir(qdir):
            if name.startswith(".") and (name.endswith(".tmp") or name.endswith(".claim")):
                path = os.path.join(qdir, name)
                if _older_than(path, cutoff):
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    def _sweep_trash(self) -> None:
        # Deletions interrupted between the rename and the unbinding: drop their
        # bindings unless a queue of that name exists again (then they may be its).
        for entry in _listdir(self.trash_dir):
            path = os.path.join(self.trash_dir, entry)
            encoded_queue = entry.rsplit(".", 1)[0]
            with self._meta_lock():
                if not os.path.isdir(os.path.join(self.queues_dir, encoded_queue)):
                    self._remove_mirrored_bindings(path, encoded_queue)
            shutil.rmtree(path, ignore_errors=True)


# --- small helpers ------------------------------------------------------------------


def _is_message(name: str) -> bool:
    return not name.startswith(".") and name.endswith(_MSG_SUFFIX)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _touch(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666))


def _rmdir_if_empty(path: str) -> None:
    with contextlib.suppress(OSError):  # ENOTEMPTY, ENOENT
        os.rmdir(path)


def _mtime(path: str, default: float) -> float:
    try:
        return os.lstat(path).st_mtime
    except FileNotFoundError:
        return default


def _older_than(path: str, cutoff: float) -> bool:
    return _mtime(path, default=cutoff) < cutoff
