"""The ASGI application: pages, the REST API, and what they share.

FastAPI serves both: the REST API under ``/api/v1`` (its OpenAPI document at
``/api/v1/openapi.json``, generated from :mod:`.models`), and server-rendered pages
(Jinja2, autoescaped) with one small script of our own for the live parts. Errors
become answers, never tracebacks: a user's mistake is a 4xx with one line saying what
is wrong (and where, for a filter or an input); the middleware being down is a 503
naming it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware

from mcollective import __version__
from mcollective.errors import (
    ConnectionFailed,
    DDLValidationError,
    MCollectiveError,
    SecurityError,
)
from mcollective_web import views
from mcollective_web.catalogue import NotFound, Unusable
from mcollective_web.filterbar import FilterBarError
from mcollective_web.guard import (
    AuthRequired,
    BodyLimit,
    Forbidden,
    Guard,
    RateLimited,
    SecurityHeaders,
)
from mcollective_web.jobs import Jobs, TooBusy

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.plugins import PluginManager
    from mcollective_web.accounts import Accounts
    from mcollective_web.gateway import Gateway
    from mcollective_web.settings import WebSettings
    from mcollective_web.store import Store

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


@dataclass
class Console:
    """Everything a request handler needs (``request.app.state.console``)."""

    settings: WebSettings
    config: Config
    plugins: PluginManager
    accounts: Accounts
    store: Store
    gateway: Gateway
    jobs: Jobs
    guard: Guard
    templates: Jinja2Templates


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **{k: v for k, v in extra.items()
                                              if v is not None}}, status_code=status)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_response(request: Request, exc: Exception) -> Response:
    """The answer for an error raised by a handler: JSON for the API, a page for
    people (or the sign-in page)."""
    status, extra = 422, {}
    if isinstance(exc, AuthRequired):
        if not _is_api(request):
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            return RedirectResponse(f"/login?next={views.quote(target)}", status_code=303)
        return problem(401, "sign in first: POST /api/v1/login, then send "
                            "'Authorization: Bearer TOKEN'")
    from mcollective_web.auth import SignInFailed

    if isinstance(exc, SignInFailed):
        status = 401
    elif isinstance(exc, Forbidden | SecurityError):
        status = 403
    elif isinstance(exc, RateLimited | TooBusy):
        status = 429
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, FilterBarError):
        extra = {"position": exc.position, "message": exc.detail}
    elif isinstance(exc, DDLValidationError):
        extra = {"input": exc.input}
    elif isinstance(exc, ConnectionFailed):
        status = 503
    elif isinstance(exc, Unusable | MCollectiveError):
        status = 422
    else:
        log.error("error answering %s %s", request.method, request.url.path,
                  exc_info=exc)
        status = 500
    detail = str(exc) if status != 500 else "internal error; see the console's log"
    if _is_api(request):
        response: Response = problem(status, detail, **extra)
    else:
        console = console_of(request)
        response = console.templates.TemplateResponse(
            request, "error.html", {"status": status, "detail": detail,
                                    "who": getattr(request.state, "session", None),
                                    "console_status": console.gateway.status(),
                                    **extra}, status_code=status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


#: Seconds between attempts to connect while the middleware is unreachable.
RECONNECT_INTERVAL = 15.0


def create_app(console: Console) -> FastAPI:
    from mcollective_web import api, pages
    from mcollective_web.auth import Challenges

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()
        keeper = asyncio.create_task(_keep_connected(console))
        try:
            yield
        finally:
            keeper.cancel()
            console.jobs.shutdown()
            await anyio.to_thread.run_sync(console.gateway.close)
            console.store.close()

    app = FastAPI(
        title="mcollective web console", version=__version__,
        description="Discovery, inventory and any RPC action on the collective, with "
                    "the same filters, DDLs, security and authorization as mco.",
        openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,
        lifespan=lifespan)
    app.state.console = console
    app.state.challenges = Challenges()
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(Exception)
    async def _errors(request: Request, exc: Exception) -> Response:
        return error_response(request, exc)

    for kind in (AuthRequired, Forbidden, RateLimited, TooBusy, MCollectiveError):
        app.add_exception_handler(kind, _errors)

    hosts = {"localhost", "127.0.0.1", "[::1]", console.settings.host,
             *console.settings.server_names}
    if console.settings.host in ("0.0.0.0", "::"):
        hosts = {"*"}  # listening everywhere: names are the operator's business
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=sorted(hosts))
    app.add_middleware(BodyLimit, limit=console.settings.max_body)
    app.add_middleware(SecurityHeaders, hsts=console.settings.tls)
    return app


async def _keep_connected(console: Console) -> None:
    """Connect at start-up, and again while the middleware is unreachable, so the
    status line is true and the first request does not wait for a connection. A
    broker that is down is reported, never fatal."""
    while True:
        if console.gateway.session.connector is None:
            await anyio.to_thread.run_sync(console.gateway.connect)
        await asyncio.sleep(RECONNECT_INTERVAL)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.autoescape = True  # every value from a node is text, whatever it contains
    env.filters["show"] = views.show
    env.filters["when"] = views.when
    env.filters["seconds"] = views.seconds
    env.filters["quote"] = views.quote
    env.globals["version"] = __version__
    env.globals["status_label"] = views.status_label
    env.globals["fact_value"] = lambda row, column: views.show(views.cell(row, column))
    return templates


def build_console(config: Config, settings: WebSettings, *,
                  plugins: PluginManager | None = None) -> Console:
    from mcollective.plugins import make_plugin_manager
    from mcollective_web.accounts import Accounts
    from mcollective_web.gateway import Gateway
    from mcollective_web.store import Store

    plugins = plugins or make_plugin_manager()
    store = Store(settings.state_dir / "console.sqlite",
                  history_limit=settings.history_limit)
    store.fail_running()
    gateway = Gateway(config, plugins, settings, store)
    return Console(
        settings=settings, config=config, plugins=plugins,
        accounts=Accounts(settings.users_file), store=store, gateway=gateway,
        jobs=Jobs(max_running=settings.max_running,
                  max_running_per_user=settings.max_running_per_user),
        guard=Guard(settings, store), templates=make_templates())
