"""Local console accounts: a YAML file of users with argon2id password hashes.

::

    users:
      alice:
        password: $argon2id$v=19$m=65536,t=3,p=4$...
        caller: user=alice        # the caller id nodes see (default user=NAME)
        admin: true               # sees every user's history (default false)
        token: /etc/mco/alice.jwt # jwt only: alice's client token, for delegated signing

``mco web useradd|passwd|userdel|users`` maintain it; the file is written 0600 through a
temporary file and a rename, so a crash never leaves it half-written. The console
re-reads it when it changes, so adding a user or changing a password needs no restart.
Checking a password for an unknown user costs as much as for a known one, so response
times do not reveal which accounts exist.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mcollective.errors import ConfigError, MCollectiveError
from mcollective.security import CALLER_RE

USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_CALLER = re.compile(CALLER_RE)
#: Passwords longer than this are refused before hashing (hashing is deliberately slow).
MAX_PASSWORD = 1024
MIN_PASSWORD = 8

_hasher = PasswordHasher()
# Verified against when the user does not exist, so that the time taken is the same.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(MCollectiveError):
    """A mistake in the accounts file or in a user-management command."""


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    caller: str
    admin: bool = False
    token_file: Path | None = None

    def token(self) -> str | None:
        """The account's jwt client token (a public credential: it cannot sign)."""
        if self.token_file is None:
            return None
        try:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise AccountError(f"account {self.name}: cannot read its token "
                               f"{self.token_file}: {exc.strerror}") from None


def check_username(name: str) -> str:
    if not isinstance(name, str) or not USERNAME_RE.fullmatch(name):
        raise AccountError(f"user name {name!r} must be 1 to 64 letters, digits or _ . @ -")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password may have at most {MAX_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


class Accounts:
    """The accounts file, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, Account] = {}

    # --- reading --------------------------------------------------------------------

    def _status(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def users(self) -> dict[str, Account]:
        with self._lock:
            stamp = self._status()
            if stamp != self._stamp:
                self._users = self._load() if stamp is not None else {}
                self._stamp = stamp
            return dict(self._users)

    def get(self, name: str) -> Account | None:
        return self.users().get(name)

    def _load(self) -> dict[str, Account]:
        try:
            doc = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=str(self.path)) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", file=str(self.path)) from None
        users = doc.get("users") if isinstance(doc, dict) else None
        if users is None:
            users = {}
        if not isinstance(users, dict):
            raise ConfigError("'users' must map user names to their settings",
                              file=str(self.path))
        out = {}
        for name, entry in users.items():
            out[str(name)] = self._account(str(name), entry)
        return out

    def _account(self, name: str, entry: Any) -> Account:
        where = str(self.path)
        try:
            check_username(name)
        except AccountError as exc:
            raise ConfigError(str(exc), file=where, key=f"users.{name}") from None
        if not isinstance(entry, dict):
            raise ConfigError("expected password, caller, admin, token", file=where,
                              key=f"users.{name}")
        unknown = set(entry) - {"password", "caller", "admin", "token"}
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(sorted(map(str, unknown)))} "
                              "(known: password, caller, admin, token)", file=where,
                              key=f"users.{name}")
        password = entry.get("password")
        if not isinstance(password, str) or not password.startswith("$argon2"):
            raise ConfigError("'password' must be an argon2 hash; set it with "
                              f"'mco web passwd {name}'", file=where,
                              key=f"users.{name}.password")
        caller = entry.get("caller") or f"user={name}"
        if not isinstance(caller, str) or not _CALLER.fullmatch(caller):
            raise ConfigError(f"'caller' {caller!r} must match {CALLER_RE}", file=where,
                              key=f"users.{name}.caller")
        admin = entry.get("admin", False)
        if not isinstance(admin, bool):
            raise ConfigError("'admin' must be true or false", file=where,
                              key=f"users.{name}.admin")
        token = entry.get("token")
        if token is not None and not isinstance(token, str):
            raise ConfigError("'token' must be the path of a token file", file=where,
                              key=f"users.{name}.token")
        token_file = None
        if token:
            token_file = Path(token).expanduser()
            if not token_file.is_absolute():
                token_file = self.path.parent / token_file
        return Account(name, password, caller, admin, token_file)

    # --- checking -------------------------------------------------------------------

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account if ``password`` is its password, else ``None`` (same cost either
        way). A hash made with weaker parameters than today's is upgraded."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return None
        account = self.users().get(name) if USERNAME_RE.fullmatch(name or "") else None
        try:
            _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if account is None:
            return None
        if _hasher.check_needs_rehash(account.password_hash):
            try:
                self.set_password(name, password)
            except (AccountError, OSError):
                pass  # logging in matters more than upgrading the hash
        return account

    # --- changing (mco web useradd / passwd / userdel) -----------------------------------

    def _raw(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"users": {}}
        doc = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        doc.setdefault("users", {})
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, ("# mco web accounts: edit with mco web useradd/passwd/userdel\n"
                          + yaml.safe_dump(doc, sort_keys=True)).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def add(self, name: str, password: str, *, caller: str | None = None,
            admin: bool = False, token: str | None = None) -> Account:
        check_username(name)
        doc = self._raw()
        if name in doc["users"]:
            raise AccountError(f"user {name} exists; change the password with "
                               f"'mco web passwd {name}'")
        entry: dict[str, Any] = {"password": hash_password(password)}
        if caller:
            if not _CALLER.fullmatch(caller):
                raise AccountError(f"caller id {caller!r} must match {CALLER_RE}")
            entry["caller"] = caller
        if admin:
            entry["admin"] = True
        if token:
            entry["token"] = str(Path(token).expanduser().resolve())
        doc["users"][name] = entry
        self._write(doc)
        account = self.get(name)
        assert account is not None
        return account

    def set_password(self, name: str, password: str) -> None:
        doc = self._raw()
        if name not in doc["users"]:
            raise AccountError(f"no user {name}")
        doc["users"][name]["password"] = hash_password(password)
        self._write(doc)

    def remove(self, name: str) -> None:
        doc = self._raw()
        if name not in doc["users"]:
            raise AccountError(f"no user {name}")
        del doc["users"][name]
        self._write(doc)
