"""The console's defences: who is signed in, CSRF, rate limits, body size, headers.

* **Sessions.** A browser session is a random 256-bit secret in a cookie (``HttpOnly``,
  ``SameSite=Strict``, ``Secure`` with the ``__Host-`` prefix over TLS), stored
  server-side by its SHA-256, so that signing out or removing a user ends it at once.
  API clients get the same kind of secret as a bearer token (``POST /api/v1/login``).
* **CSRF.** Every state-changing request made with a session cookie must carry the
  session's CSRF token (``X-CSRF-Token`` header, or a ``csrf_token`` form field) and,
  when the browser sends one, an ``Origin`` of this console. Bearer-token requests carry
  no ambient credential and need neither. The sign-in form, which has no session yet,
  uses a double-submit cookie plus the same origin check.
* **Rate limits** (the ``limits`` library, moving windows): sign-in attempts per client
  address and per user name, API calls per user, requests sent to the collective per
  user. Over the limit: 429 with ``Retry-After``.
* **Body size.** Bodies over ``max_body`` bytes are refused with 413 before they are
  read, whether or not they announce their length.
* **Headers.** A strict Content-Security-Policy (scripts and styles from the console
  only, no inline script, no framing), ``nosniff``, no referrer sent to other sites,
  no caching of pages.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from mcollective_web.settings import WebSettings
    from mcollective_web.store import Session, Store

LOGIN_CSRF_COOKIE = "mco_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")


class AuthRequired(Exception):
    """No valid session: pages redirect to the sign-in page, the API answers 401."""


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class RateLimited(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def cookie_name(settings: WebSettings) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless it is Secure, for
    # path / and without a Domain: no subdomain can plant or read it.
    return "__Host-mco_session" if settings.cookies_secure else "mco_session"


def session_cookie_args(settings: WebSettings) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": settings.cookies_secure,
            "path": "/"}


class Guard:
    def __init__(self, settings: WebSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rates = {name: parse_many(getattr(settings, name))
                       for name in ("login_rate", "api_rate", "request_rate")}

    # --- who is signed in ----------------------------------------------------------------

    def secret_of(self, request: Request) -> tuple[str | None, str]:
        """The session secret the request presents, and how (``bearer``/``cookie``)."""
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip(), "bearer"
        return request.cookies.get(cookie_name(self.settings)), "cookie"

    def session(self, request: Request) -> Session:
        secret, how = self.secret_of(request)
        session = self.store.session(secret) if secret else None
        if session is None:
            raise AuthRequired()
        if how == "bearer" and session.kind != "api":
            raise AuthRequired()  # a browser session's secret is not an API token
        if how == "cookie" and session.kind != "browser":
            raise AuthRequired()
        request.state.session = session
        request.state.auth = how
        if request.method in UNSAFE and how == "cookie":
            self.check_csrf(request, session.csrf)
        self.limit("api_rate", session.user)
        return session

    # --- CSRF -----------------------------------------------------------------------------

    def check_origin(self, request: Request) -> None:
        """A state-changing browser request must come from a page of this console."""
        origin = request.headers.get("origin")
        if origin is None:
            referer = request.headers.get("referer")
            if referer is None:
                return  # not a browser (browsers send Origin on POST)
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != expected:
            raise Forbidden(f"cross-site request refused (origin {origin[:100]})")

    def check_csrf(self, request: Request, expected: str, form_token: str | None = None
                   ) -> None:
        self.check_origin(request)
        given = request.headers.get("x-csrf-token") or form_token or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden("missing or wrong CSRF token; reload the page and try again")

    @staticmethod
    def new_login_csrf() -> str:
        return secrets.token_urlsafe(24)

    # --- rate limits ---------------------------------------------------------------------

    def limit(self, rate: str, key: str, *, count: bool = True) -> None:
        """Count one hit of ``rate`` for ``key`` (``count=False``: only check that
        there is room); :class:`RateLimited` past the limit."""
        for item in self._rates[rate]:
            allowed = self._limiter.hit(item, rate, key) if count else \
                self._limiter.test(item, rate, key)
            if not allowed:
                reset, _ = self._limiter.get_window_stats(item, rate, key)
                wait = max(1, int(reset - time.time()) + 1)
                what = {"login_rate": "failed sign-in attempts", "api_rate": "API calls",
                        "request_rate": "requests to the collective"}[rate]
                raise RateLimited(f"too many {what} (limit {item}); try again in "
                                  f"{wait} s", wait)


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit`` bytes, announced or not."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _send_413(send, self.limit)
                    return
        seen = 0
        started = rejected = False

        async def limited_receive() -> Message:
            # Past the limit, answer 413 now and tell the application the client has
            # gone (raising instead would be turned into a 400 by the body parser).
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    rejected = True
                    if not started:
                        await _send_413(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


async def _send_413(send: Callable[[Message], Awaitable[None]], limit: int) -> None:
    body = (f'{{"detail": "request body larger than {limit} bytes"}}').encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """ASGI middleware adding the headers every response gets."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += self.headers
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
