"""The pages people use: sign-in, discovery, fleet, node, agents and action forms, a
running request, history. Rendered on the server from the same data the API returns;
``static/console.js`` adds the live parts (filter checking as you type, nodes and
replies streaming in, charts updating)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mcollective.errors import MCollectiveError
from mcollective_web import views
from mcollective_web.app import Console, console_of
from mcollective_web.auth import SignInFailed, proofs_supported, sign_in
from mcollective_web.catalogue import NotFound, form_fields
from mcollective_web.guard import (
    LOGIN_CSRF_COOKIE,
    AuthRequired,
    Forbidden,
    cookie_name,
    session_cookie_args,
)
from mcollective_web.store import Session

router = APIRouter(include_in_schema=False)


def page_session(request: Request) -> Session:
    return console_of(request).guard.session(request)


Who = Depends(page_session)


def render(request: Request, template: str, who: Session | None, status: int = 200,
           **context: Any) -> Response:
    console = console_of(request)
    return console.templates.TemplateResponse(
        request, template, {"who": who, "console_status": console.gateway.status(),
                            "config": console.config, **context}, status_code=status)


def _safe_next(target: str | None) -> str:
    """Only paths of this console: never another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or \
            "\\" in target or len(target) > 2000:
        return "/"
    return target


# --- signing in and out --------------------------------------------------------------


def _login_page(request: Request, *, error: str | None = None, status: int = 200,
                next_: str = "/") -> Response:
    console = console_of(request)
    token = console.guard.new_login_csrf()
    challenge = None
    if proofs_supported(console):
        challenge, _ = request.app.state.challenges.issue()
    response = render(request, "login.html", None, status=status, error=error,
                      login_csrf=token, next=_safe_next(next_), challenge=challenge,
                      security=console.gateway.session.security.name)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=1800, httponly=True,
                        samesite="strict", secure=console.settings.cookies_secure,
                        path="/login")
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    console = console_of(request)
    try:
        console.guard.session(request)
        return RedirectResponse(_safe_next(next), status_code=303)
    except AuthRequired:
        return _login_page(request, next_=next)


@router.post("/login")
def login_submit(request: Request, username: str = Form("", max_length=64),
                 password: str = Form("", max_length=1024),
                 proof: str = Form("", max_length=20000),
                 challenge: str = Form("", max_length=256),
                 csrf_token: str = Form("", max_length=100),
                 next: str = Form("/", max_length=2000)) -> Response:
    console = console_of(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not expected:
        return _login_page(request, error="your sign-in form expired; please try again",
                           status=403, next_=next)
    try:
        console.guard.check_csrf(request, expected, csrf_token)
        secret, session = sign_in(console, request, kind="browser", username=username,
                                  password=password, proof=proof.strip() or None,
                                  challenge=challenge.strip() or None)
    except (SignInFailed, Forbidden) as exc:
        return _login_page(request, error=str(exc), status=401 if isinstance(
            exc, SignInFailed) else 403, next_=next)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(cookie_name(console.settings), secret,
                        max_age=int(session.expires - session.created),
                        **session_cookie_args(console.settings))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("", max_length=100)) -> Response:
    console = console_of(request)
    secret, _ = console.guard.secret_of(request)
    session = console.store.session(secret) if secret else None
    if session is not None:
        console.guard.check_csrf(request, session.csrf, csrf_token)
        console.store.end_session(secret or "")
        console.store.event("logout", user=session.user,
                            remote=request.client.host if request.client else None)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(cookie_name(console.settings), path="/")
    return response


# --- discovery --------------------------------------------------------------------------


@router.get("/")
def discover_page(request: Request, who: Session = Who, filter: str = "",
                  collective: str | None = None) -> Response:
    console = console_of(request)
    return render(request, "discover.html", who, filter=filter[:4096],
                  collective=collective, saved=console.store.filters(who.user),
                  collectives=console.config.collectives,
                  main_collective=console.config.main_collective)


# --- inventory -----------------------------------------------------------------------------


def _visible(console: Console, who: Session, entry_id: int, kinds: tuple[str, ...]
             ) -> dict[str, Any]:
    entry = console.store.request(entry_id)
    if entry is None or entry["kind"] not in kinds or (
            entry["user"] != who.user and not who.admin):
        raise NotFound(f"no {' or '.join(kinds)} request {entry_id} of yours")
    return entry


@router.get("/fleet")
def fleet_page(request: Request, who: Session = Who, job: int | None = None,
               sort: str = "identity", order: str = "asc", q: str = "",
               columns: str = "", filter: str = "") -> Response:
    console = console_of(request)
    entry = None
    if job is not None:
        entry = _visible(console, who, job, ("fleet",))
    else:
        latest = console.store.requests(user=who.user, kind="fleet", limit=1)
        entry = latest[0] if latest else None
    context: dict[str, Any] = {"entry": entry, "filter": (filter or (
        entry["filter"] if entry else ""))[:4096], "q": q[:200], "sort": sort[:200],
        "order": "desc" if order == "desc" else "asc",
        "collectives": console.config.collectives}
    if entry is not None and entry["status"] != "running":
        versions = next((c for c in console.store.children(entry["id"])
                         if c["kind"] == "fleet-agents"), None)
        rows = views.fleet_rows(console.store.replies(entry["id"]),
                                console.store.replies(versions["id"]) if versions else None)
        ok_rows = [r for r in rows if r["ok"]]
        chosen = [c.strip() for c in columns.split(",") if c.strip()][:20] or \
            views.default_columns(ok_rows)
        shown = views.select(ok_rows, chosen, query=q, sort=sort,
                             descending=order == "desc")
        context.update(
            rows=shown, total=len(ok_rows), failed=[r for r in rows if not r["ok"]],
            columns=chosen, column_text=", ".join(chosen),
            paths=[p for p, _ in views.fact_paths(ok_rows)][:500],
            fact_charts=[(c, views.fact_chart(shown, c)) for c in chosen],
            agent_chart=views.agent_chart(shown),
            version_charts=views.version_charts(shown),
            silent=entry.get("silent") or [])
    return render(request, "fleet.html", who, **context)


@router.get("/nodes/{identity}")
async def node_page(identity: str, request: Request, who: Session = Who) -> Response:
    console = console_of(request)
    console.guard.limit("request_rate", who.user)
    error = None
    info: dict[str, Any] = {"identity": identity}
    try:
        info = await anyio.to_thread.run_sync(console.gateway.node_info, who, identity)
    except MCollectiveError as exc:
        error = str(exc)
    inventory = info.get("inventory") or {}
    facts = inventory.get("facts") if isinstance(inventory.get("facts"), dict) else {}
    agents = (info.get("agent_inventory") or {}).get("agents") or []
    return render(request, "node.html", who, identity=identity, info=info, error=error,
                  facts=views.tree(facts), fact_count=len(views.flatten(facts)),
                  agents=[a for a in agents if isinstance(a, dict)],
                  stats=info.get("daemon_stats") or {}, inventory=inventory)


# --- agents and actions ------------------------------------------------------------------


@router.get("/agents")
def agents_page(request: Request, who: Session = Who, filter: str = "") -> Response:
    entries = console_of(request).gateway.catalogue.agents()
    return render(request, "agents.html", who, agents=list(entries.values()),
                  filter=filter[:4096])


@router.get("/agents/{agent}/{action}")
def action_page(agent: str, action: str, request: Request, who: Session = Who,
                filter: str = "", base: int | None = None) -> Response:
    console = console_of(request)
    ddl = console.gateway.catalogue.ddl(agent)
    action_ddl = console.gateway.catalogue.action(agent, action)
    values: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if base is not None:  # "edit and run again" from the history
        entry = _visible(console, who, base, ("rpc",))
        values = {k: views.show(v) for k, v in (entry["arguments"] or {}).items()}
        options = entry["options"] or {}
        filter = entry["filter"]
    return render(request, "action.html", who, ddl=ddl, action=action_ddl,
                  fields=form_fields(action_ddl), values=values, options=options,
                  filter=filter[:4096], collectives=console.config.collectives,
                  main_collective=console.config.main_collective)


@router.get("/runs/{job_id}")
def run_page(job_id: int, request: Request, who: Session = Who) -> Response:
    console = console_of(request)
    job = console.jobs.get(job_id)
    if job is None or (job.user != who.user and not who.admin):
        return RedirectResponse(f"/history/{job_id}", status_code=303)
    outputs, display = _outputs(console, job.meta["agent"], job.meta["action"])
    return render(request, "run.html", who, job=job, outputs=outputs, display=display)


def _outputs(console: Console, agent: str, action: str) -> tuple[list[Any], str]:
    try:
        action_ddl = console.gateway.catalogue.action(agent, action)
    except MCollectiveError:
        return [], "always"
    return list(action_ddl.outputs.values()), action_ddl.display


# --- history ---------------------------------------------------------------------------------


@router.get("/history")
def history_page(request: Request, who: Session = Who, page: int = 1,
                 user: str | None = None) -> Response:
    console = console_of(request)
    page = max(1, min(page, 100_000))
    shown_user = (user or None) if who.admin else who.user
    entries = console.store.requests(user=shown_user, limit=50, offset=(page - 1) * 50)
    return render(request, "history.html", who, entries=entries, page=page,
                  user=shown_user, events=console.store.events(50) if who.admin else [])


@router.get("/history/{entry_id}")
def history_item(entry_id: int, request: Request, who: Session = Who) -> Response:
    console = console_of(request)
    entry = console.store.request(entry_id)
    if entry is None or (entry["user"] != who.user and not who.admin):
        raise NotFound(f"no history entry {entry_id}")
    outputs, _ = _outputs(console, entry["agent"], entry["action"])
    replies = console.store.replies(entry_id, limit=5000)
    related = console.store.children(entry_id)
    parent = console.store.request(entry["parent"]) if entry["parent"] else None
    rerun_of = console.store.request(entry["rerun_of"]) if entry["rerun_of"] else None
    return render(request, "history_item.html", who, entry=entry, outputs=outputs,
                  summaries=views.summary_charts(entry.get("summaries")),
                  replies=replies, related=related, parent=parent, rerun_of=rerun_of,
                  running=console.jobs.get(entry_id) is not None and entry["status"] ==
                  "running")
