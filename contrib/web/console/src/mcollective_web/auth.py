"""Signing in: a local account's password, or a proof of a security-plugin identity.

* **Password**: an account of the accounts file (:mod:`.accounts`); the session acts as
  the account's caller id (``user=NAME`` unless the account says otherwise).
* **Identity proof** (security plugins that have them, such as ``jwt``): the console
  shows a one-time challenge; the user runs ``mco web prove CHALLENGE`` on their own
  machine, where their private key is, and pastes the line it prints. The session acts
  as the caller id the proof establishes (the token's), and the console signs that
  user's requests with the user's token as delegator. It ends when the token expires,
  if that is sooner than the session timeout.

Failed attempts count against the sign-in rate limits (per client address and per
name); every attempt is written to the console's audit trail, successful or not.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from mcollective.errors import MCollectiveError, SecurityError

if TYPE_CHECKING:
    from starlette.requests import Request

    from mcollective_web.app import Console
    from mcollective_web.store import Session

CHALLENGE_LIFETIME = 300.0
MAX_CHALLENGES = 10_000


class SignInFailed(MCollectiveError):
    """Wrong name, password or proof (deliberately not saying which)."""


class Challenges:
    """One-time challenges for identity proofs."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> tuple[str, float]:
        challenge = "mco-web-" + secrets.token_urlsafe(24)
        expires = time.time() + CHALLENGE_LIFETIME
        with self._lock:
            self._open[challenge] = expires
            while len(self._open) > MAX_CHALLENGES:
                self._open.popitem(last=False)
        return challenge, expires

    def consume(self, challenge: str) -> bool:
        with self._lock:
            expires = self._open.pop(challenge, None)
        return expires is not None and expires > time.time()


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in(console: Console, request: Request, *, kind: str, username: str | None = None,
            password: str | None = None, proof: str | None = None,
            challenge: str | None = None) -> tuple[str, Session]:
    """A new session (its secret and it), or :class:`SignInFailed`."""
    remote = client_address(request)
    guard, store, settings = console.guard, console.store, console.settings
    guard.limit("login_rate", f"addr:{remote}", count=False)
    if proof or challenge:
        try:
            return _with_proof(console, request, kind, proof or "", challenge or "")
        except SignInFailed:
            guard.limit("login_rate", f"addr:{remote}")
            raise
    name = (username or "").strip()
    guard.limit("login_rate", f"user:{name.lower()}", count=False)
    account = console.accounts.authenticate(name, password or "")
    if account is None:
        store.event("login-failed", user=name[:64], remote=remote, detail="password")
        # Only failures count: a guesser is stopped, people signing in are not.
        guard.limit("login_rate", f"user:{name.lower()}")
        guard.limit("login_rate", f"addr:{remote}")
        raise SignInFailed("wrong user name or password")
    secret, session = store.new_session(
        kind=kind, user=account.name, caller=account.caller, admin=account.admin,
        credential=account.token(), lifetime=settings.session_timeout, remote=remote)
    store.event("login", user=account.name, remote=remote, detail=f"password, {kind}")
    return secret, session


def _with_proof(console: Console, request: Request, kind: str, proof: str,
                challenge: str) -> tuple[str, Session]:
    remote = client_address(request)
    store = console.store
    challenges: Challenges = request.app.state.challenges
    if not challenges.consume(challenge):
        store.event("login-failed", remote=remote, detail="unknown or expired challenge")
        raise SignInFailed("the challenge is unknown, used or expired; get a new one")
    try:
        proven = console.gateway.session.security.verify_identity_proof(proof, challenge)
    except SecurityError as exc:
        store.event("login-failed", remote=remote, detail=f"proof: {exc}"[:500])
        raise SignInFailed(f"the proof was not accepted: {exc}") from None
    account = next((a for a in console.accounts.users().values()
                    if a.caller == proven.caller), None)
    user = account.name if account else proven.caller
    lifetime = console.settings.session_timeout
    if proven.expires is not None:
        lifetime = max(1.0, min(lifetime, proven.expires - time.time()))
    secret, session = store.new_session(
        kind=kind, user=user, caller=proven.caller, admin=bool(account and account.admin),
        credential=proven.credential, lifetime=lifetime, remote=remote)
    store.event("login", user=user, remote=remote, detail=f"identity proof, {kind}")
    return secret, session


def proofs_supported(console: Console) -> bool:
    """Whether the security plugin can verify identity proofs (it overrides the
    default, which refuses)."""
    from mcollective.security import SecurityProvider

    security = console.gateway.session.security
    return type(security).verify_identity_proof is not \
        SecurityProvider.verify_identity_proof
