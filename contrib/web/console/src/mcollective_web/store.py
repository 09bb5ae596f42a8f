"""What the console remembers, in one SQLite file in its state directory.

* **sessions**: browser sessions and API tokens, stored by the SHA-256 of the secret
  the client holds (a stolen database opens no session), with their CSRF token,
  expiry and the identity they act as;
* **history**: every request the console sent to the collective (discovery and
  inventory included): who, what, the filter, the options, the targets, the outcome,
  and the replies (``replies``), so that a past request can be inspected and re-run;
* **saved filters**, per user;
* **events**: the console's own audit trail (logins, failed logins, logouts).

One connection shared by every thread under a lock, in WAL mode; every operation is
short. The history is trimmed to ``history_limit`` requests, oldest first.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, user TEXT NOT NULL, caller TEXT NOT NULL,
    admin INTEGER NOT NULL, credential TEXT, csrf TEXT NOT NULL, created REAL NOT NULL,
    expires REAL NOT NULL, remote TEXT
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, parent INTEGER, rerun_of INTEGER,
    kind TEXT NOT NULL, user TEXT NOT NULL, caller TEXT NOT NULL,
    agent TEXT NOT NULL, action TEXT NOT NULL, arguments TEXT NOT NULL,
    filter TEXT NOT NULL, collective TEXT, options TEXT NOT NULL,
    request_id TEXT, started REAL NOT NULL, finished REAL, status TEXT NOT NULL,
    error TEXT, discovered INTEGER, responses INTEGER, ok INTEGER, failed INTEGER,
    silent TEXT, stats TEXT, summaries TEXT, replies_dropped INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS history_user ON history (user, id);
CREATE TABLE IF NOT EXISTS replies (
    history INTEGER NOT NULL, sender TEXT NOT NULL, statuscode INTEGER NOT NULL,
    statusmsg TEXT NOT NULL, data TEXT NOT NULL, time REAL
);
CREATE INDEX IF NOT EXISTS replies_history ON replies (history);
CREATE TABLE IF NOT EXISTS filters (
    user TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL, collective TEXT,
    created REAL NOT NULL, PRIMARY KEY (user, name)
);
CREATE TABLE IF NOT EXISTS events (
    time REAL NOT NULL, user TEXT, remote TEXT, event TEXT NOT NULL, detail TEXT
);
"""

#: Saved filters per user, and the length of their names.
MAX_SAVED_FILTERS = 200
MAX_FILTER_NAME = 80


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)


def _load(text: str | None) -> Any:
    return json.loads(text) if text else None


@dataclass(frozen=True)
class Session:
    """A signed-in browser or API client: who, as which caller, until when."""

    key: str  # digest of the secret
    kind: str  # "browser" or "api"
    user: str
    caller: str
    admin: bool
    credential: str | None
    csrf: str
    created: float
    expires: float


class Store:
    def __init__(self, path: Path, *, history_limit: int = 5000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self.history_limit = history_limit
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        path.chmod(0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # --- sessions -------------------------------------------------------------------

    def new_session(self, *, kind: str, user: str, caller: str, admin: bool,
                    credential: str | None, lifetime: float, remote: str | None
                    ) -> tuple[str, Session]:
        """A new session; returns the secret (given to the client once) and it."""
        secret = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(digest(secret), kind, user, caller, admin, credential,
                          secrets.token_urlsafe(32), now, now + lifetime)
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (session.key, kind, user, caller, int(admin), credential,
                        session.csrf, now, session.expires, remote))
        return secret, session

    def session(self, secret: str) -> Session | None:
        if not secret or len(secret) > 200:
            return None
        rows = self._all("SELECT * FROM sessions WHERE key = ? AND expires > ?",
                         (digest(secret), time.time()))
        if not rows:
            return None
        r = rows[0]
        return Session(r["key"], r["kind"], r["user"], r["caller"], bool(r["admin"]),
                       r["credential"], r["csrf"], r["created"], r["expires"])

    def end_session(self, secret: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE key = ?", (digest(secret),))

    def end_sessions_of(self, user: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE user = ?", (user,))

    # --- the console's audit trail --------------------------------------------------

    def event(self, event: str, *, user: str | None = None, remote: str | None = None,
              detail: str | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO events VALUES (?,?,?,?,?)",
                       (time.time(), user, remote, event, detail))

    def events(self, limit: int = 200) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all(
            "SELECT * FROM events ORDER BY time DESC LIMIT ?", (limit,))]

    # --- history --------------------------------------------------------------------

    def start_request(self, *, kind: str, user: str, caller: str, agent: str, action: str,
                      arguments: dict[str, Any], filter: str, collective: str | None,
                      options: dict[str, Any], parent: int | None = None,
                      rerun_of: int | None = None) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO history (parent, rerun_of, kind, user, caller, agent, action, "
                "arguments, filter, collective, options, started, status) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'running')",
                (parent, rerun_of, kind, user, caller, agent, action, _json(arguments),
                 filter, collective, _json(options), time.time()))
            row_id = int(cur.lastrowid or 0)
            self._trim(db)
        return row_id

    def _trim(self, db: sqlite3.Connection) -> None:
        old = db.execute("SELECT id FROM history ORDER BY id DESC LIMIT 1 OFFSET ?",
                         (self.history_limit,)).fetchone()
        if old is not None:
            db.execute("DELETE FROM replies WHERE history <= ?", (old["id"],))
            db.execute("DELETE FROM history WHERE id <= ?", (old["id"],))

    def set_request_id(self, row: int, request_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE history SET request_id = ? WHERE id = ?", (request_id, row))

    def add_replies(self, row: int, replies: list[dict[str, Any]]) -> None:
        if not replies:
            return
        with self._tx() as db:
            db.executemany("INSERT INTO replies VALUES (?,?,?,?,?,?)", [
                (row, r["sender"], r["statuscode"], r["statusmsg"], _json(r.get("data")),
                 r.get("time")) for r in replies])

    def finish_request(self, row: int, *, status: str, error: str | None = None,
                       stats: dict[str, Any] | None = None,
                       summaries: dict[str, Any] | None = None,
                       replies_dropped: int = 0) -> None:
        stats = stats or {}
        with self._tx() as db:
            db.execute(
                "UPDATE history SET finished = ?, status = ?, error = ?, discovered = ?, "
                "responses = ?, ok = ?, failed = ?, silent = ?, stats = ?, summaries = ?, "
                "replies_dropped = ? WHERE id = ?",
                (time.time(), status, error, stats.get("discovered"),
                 stats.get("responses"), stats.get("okcount"), stats.get("failcount"),
                 _json(stats.get("noresponsefrom") or []), _json(stats),
                 _json(summaries) if summaries is not None else None, replies_dropped,
                 row))

    def fail_running(self) -> None:
        """At start-up: requests left running by a console that stopped."""
        with self._tx() as db:
            db.execute("UPDATE history SET status = 'interrupted', error = ? "
                       "WHERE status = 'running'",
                       ("the console stopped before this request finished",))

    @staticmethod
    def _entry(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        for key in ("arguments", "options", "silent", "stats", "summaries"):
            out[key] = _load(out[key])
        return out

    def request(self, row: int) -> dict[str, Any] | None:
        rows = self._all("SELECT * FROM history WHERE id = ?", (row,))
        return self._entry(rows[0]) if rows else None

    def requests(self, *, user: str | None = None, limit: int = 50, offset: int = 0,
                 kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM history WHERE 1=1", list[Any]()
        if user is not None:
            sql += " AND user = ?"
            args.append(user)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [self._entry(r) for r in self._all(sql, args)]

    def children(self, row: int) -> list[dict[str, Any]]:
        return [self._entry(r) for r in self._all(
            "SELECT * FROM history WHERE parent = ? OR rerun_of = ? ORDER BY id",
            (row, row))]

    def replies(self, row: int, *, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT sender, statuscode, statusmsg, data, time FROM replies " \
              "WHERE history = ? ORDER BY rowid"
        args: list[Any] = [row]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        out = []
        for r in self._all(sql, args):
            item = dict(r)
            item["data"] = _load(item["data"])
            out.append(item)
        return out

    # --- saved filters --------------------------------------------------------------

    def filters(self, user: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all(
            "SELECT name, text, collective, created FROM filters WHERE user = ? "
            "ORDER BY name", (user,))]

    def save_filter(self, user: str, name: str, text: str, collective: str | None) -> None:
        with self._tx() as db:
            count = db.execute("SELECT count(*) FROM filters WHERE user = ? AND name != ?",
                               (user, name)).fetchone()[0]
            if count >= MAX_SAVED_FILTERS:
                raise ValueError(f"at most {MAX_SAVED_FILTERS} saved filters per user; "
                                 "delete some first")
            db.execute("INSERT OR REPLACE INTO filters VALUES (?,?,?,?,?)",
                       (user, name, text, collective, time.time()))

    def delete_filter(self, user: str, name: str) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM filters WHERE user = ? AND name = ?", (user, name))
            return cur.rowcount > 0
