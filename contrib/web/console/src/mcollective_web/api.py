"""The REST API (``/api/v1``): discovery, inventory, DDLs and RPC, synchronous or
streamed as server-sent events, and the history. The browser pages use it too.

Streaming: ``POST .../jobs`` starts the work and answers at once with the job's id;
``GET /api/v1/jobs/{id}/events`` streams its events (``text/event-stream``):
``discovering``, ``nodes`` (found so far), ``discovered``, ``sending``, ``request``,
``results`` (replies, in batches), ``summaries``, ``warning``, ``error`` and ``done``.
Each event has an id; reconnecting with ``Last-Event-ID`` resumes after it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Header, Request
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from mcollective import __version__
from mcollective.errors import ConnectionFailed, SecurityError
from mcollective.filters import describe
from mcollective_web import filterbar
from mcollective_web.app import Console, console_of
from mcollective_web.auth import Challenges, proofs_supported, sign_in
from mcollective_web.catalogue import NotFound
from mcollective_web.gateway import CallOptions, Prepared
from mcollective_web.guard import Forbidden
from mcollective_web.jobs import Event, Job
from mcollective_web.models import (
    AgentSummary,
    CallRequest,
    CallResult,
    Challenge,
    DiscoverRequest,
    DiscoverResult,
    FilterCheck,
    FilterCheckResult,
    FleetRequest,
    HistoryDetail,
    HistoryEntry,
    JobCreated,
    JobInfo,
    LoginRequest,
    LoginResponse,
    Me,
    NodeInfo,
    Problem,
    Reply,
    SavedFilter,
    Status,
)
from mcollective_web.store import MAX_FILTER_NAME, Session

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 413, 422, 429, 503)}

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)


def signed_in(request: Request) -> Session:
    return console_of(request).guard.session(request)


Who = Depends(signed_in)


# --- signing in ---------------------------------------------------------------------


@router.get("/login/challenge", response_model=Challenge, tags=["auth"])
def login_challenge(request: Request) -> Challenge:
    """A one-time challenge to sign in with an identity proof (jwt)."""
    console = console_of(request)
    if not proofs_supported(console):
        raise NotFound(f"the {console.gateway.session.security.name} security plugin "
                       "has no identity proofs; sign in with a user name and password")
    challenges: Challenges = request.app.state.challenges
    challenge, expires = challenges.issue()
    return Challenge(challenge=challenge, expires=expires,
                     command=f"mco web prove {challenge}")


@router.post("/login", response_model=LoginResponse, tags=["auth"])
def login(body: LoginRequest, request: Request) -> LoginResponse:
    """An API token: a user name and password, or a proof answering a challenge."""
    secret, session = sign_in(console_of(request), request, kind="api",
                              username=body.username, password=body.password,
                              proof=body.proof, challenge=body.challenge)
    return LoginResponse(token=secret, expires=session.expires, user=session.user,
                         caller=session.caller, admin=session.admin)


@router.post("/logout", status_code=204, tags=["auth"])
def logout(request: Request, who: Session = Who) -> None:
    console = console_of(request)
    secret, _ = console.guard.secret_of(request)
    if secret:
        console.store.end_session(secret)
    console.store.event("logout", user=who.user, remote=request.client.host
                        if request.client else None)


@router.get("/me", response_model=Me, tags=["auth"])
def me(request: Request, who: Session = Who) -> Me:
    return Me(user=who.user, caller=who.caller, admin=who.admin, expires=who.expires,
              auth=request.state.auth)


@router.get("/status", response_model=Status, tags=["console"])
def status(request: Request, who: Session = Who) -> Status:
    """The middleware connection, as the page header shows it."""
    console = console_of(request)
    return Status(version=__version__, running=console.jobs.running(),
                  **console.gateway.status())


# --- filters ------------------------------------------------------------------------


@router.post("/filters/check", response_model=FilterCheckResult, tags=["discovery"])
def check_filter(body: FilterCheck, request: Request, who: Session = Who
                 ) -> FilterCheckResult:
    """Parse a filter as mco would, sending nothing: its meaning, or the first mistake
    with its position."""
    console = console_of(request)
    try:
        spec, flt = filterbar.check(body.filter, console.gateway.session)
    except filterbar.FilterBarError as exc:
        return FilterCheckResult(valid=False, detail=str(exc), message=exc.detail,
                                 position=exc.position)
    lines = describe(flt) if not spec.is_empty() else ["matches every node"]
    return FilterCheckResult(valid=True, description=lines, options=spec.to_options())


@router.get("/filters/saved", response_model=list[SavedFilter], tags=["discovery"])
def saved_filters(request: Request, who: Session = Who) -> list[SavedFilter]:
    return [SavedFilter(name=f["name"], filter=f["text"], collective=f["collective"])
            for f in console_of(request).store.filters(who.user)]


@router.post("/filters/saved", response_model=SavedFilter, tags=["discovery"])
def save_filter(body: SavedFilter, request: Request, who: Session = Who) -> SavedFilter:
    console = console_of(request)
    filterbar.check(body.filter, console.gateway.session)  # only filters that work
    try:
        console.store.save_filter(who.user, body.name.strip()[:MAX_FILTER_NAME],
                                  body.filter, body.collective)
    except ValueError as exc:
        raise Forbidden(str(exc)) from None
    return body


@router.delete("/filters/saved/{name}", status_code=204, tags=["discovery"])
def delete_filter(name: str, request: Request, who: Session = Who) -> None:
    if not console_of(request).store.delete_filter(who.user, name):
        raise NotFound(f"no saved filter called {name!r}")


# --- jobs ---------------------------------------------------------------------------


def new_job(request: Request, who: Session, kind: str, row: int,
            meta: dict[str, Any]) -> Job:
    console = console_of(request)
    return Job(id=row, kind=kind, user=who.user, meta=meta,
               loop=request.app.state.loop, max_results=console.settings.max_replies)


def _options(body: Any) -> CallOptions:
    return CallOptions.from_dict(body.model_dump(exclude_none=True))


def _start(request: Request, who: Session, kind: str, prepared: Prepared, *,
           agent: str, action: str, arguments: dict[str, Any],
           rerun_of: int | None = None) -> Job:
    """Record and start a job (after the limits say there is room)."""
    console = console_of(request)
    console.jobs.check_room(who.user)
    console.guard.limit("request_rate", who.user)
    row = console.gateway.record(who, kind, agent, action, arguments, prepared,
                                 rerun_of=rerun_of)
    meta = {"agent": agent, "action": action, "arguments": arguments,
            "filter": prepared.spec.text, "collective": prepared.client.collective,
            "options": prepared.options.to_dict(), "caller": who.caller}
    job = new_job(request, who, kind, row, meta)
    gateway = console.gateway
    if kind == "discover":
        return console.jobs.start(job, lambda j: gateway.run_discovery(j, prepared))
    if kind == "fleet":
        return console.jobs.start(job, lambda j: gateway.run_fleet(j, prepared, who))
    return console.jobs.start(job, lambda j: gateway.run_rpc(j, prepared))


def _created(job: Job) -> JobCreated:
    page = {"discover": "/", "fleet": f"/fleet?job={job.id}"}.get(job.kind,
                                                                    f"/runs/{job.id}")
    return JobCreated(id=job.id, events=f"/api/v1/jobs/{job.id}/events", page=page)


def start_discovery(request: Request, who: Session, body: DiscoverRequest) -> Job:
    console = console_of(request)
    prepared = console.gateway.prepare(who, "rpcutil", body.filter, _options(body))
    return _start(request, who, "discover", prepared, agent="discovery", action="ping",
                  arguments={})


def start_call(request: Request, who: Session, body: CallRequest,
               rerun_of: int | None = None) -> Job:
    console = console_of(request)
    prepared = console.gateway.prepare_call(who, body.agent, body.action, body.arguments,
                                            body.filter, _options(body))
    return _start(request, who, "rpc", prepared, agent=body.agent, action=body.action,
                  arguments=prepared.data, rerun_of=rerun_of)


def start_fleet(request: Request, who: Session, body: FleetRequest) -> Job:
    console = console_of(request)
    options = CallOptions(collective=body.collective, timeout=body.timeout,
                          discovery_timeout=body.discovery_timeout)
    prepared = console.gateway.prepare(who, "rpcutil", body.filter, options)
    return _start(request, who, "fleet", prepared, agent="rpcutil", action="inventory",
                  arguments={})


@router.post("/discover", response_model=DiscoverResult, tags=["discovery"])
async def discover(body: DiscoverRequest, request: Request, who: Session = Who
                   ) -> DiscoverResult:
    """The nodes matching a filter, once discovery has finished."""
    job = start_discovery(request, who, body)
    await job.wait()
    found = job.last("discovered") or {}
    error = job.last("error")
    unreachable(job)
    return DiscoverResult(id=job.id, nodes=found.get("nodes", []),
                          count=found.get("count", 0), seconds=found.get("seconds"),
                          method=found.get("method"), trouble=found.get("trouble"),
                          error=error["message"] if error else None)


@router.post("/discover/jobs", response_model=JobCreated, tags=["discovery"])
def discover_job(body: DiscoverRequest, request: Request, who: Session = Who
                 ) -> JobCreated:
    """Start a discovery; follow its events to see nodes as they answer."""
    return _created(start_discovery(request, who, body))


@router.post("/rpc", response_model=CallResult, tags=["rpc"])
async def rpc(body: CallRequest, request: Request, who: Session = Who) -> CallResult:
    """Run an action on the matching nodes and answer with every reply, as
    ``mco rpc ... -j`` does. Arguments are validated by the action's DDL first."""
    job = start_call(request, who, body)
    events = await job.wait()
    unreachable(job)
    return call_result(job, events)


def unreachable(job: Job) -> None:
    """A synchronous call that could not reach the middleware is a 503, one the
    security plugin refused to sign a 403: the answer says so, not only its body."""
    if isinstance(job.failure, ConnectionFailed | SecurityError):
        raise job.failure


@router.post("/rpc/jobs", response_model=JobCreated, tags=["rpc"])
def rpc_job(body: CallRequest, request: Request, who: Session = Who) -> JobCreated:
    """Start an action; follow its events to see replies as they arrive."""
    return _created(start_call(request, who, body))


@router.post("/fleet/jobs", response_model=JobCreated, tags=["inventory"])
def fleet_job(body: FleetRequest, request: Request, who: Session = Who) -> JobCreated:
    """Collect the inventory of every matching node, then their agents' versions."""
    return _created(start_fleet(request, who, body))


def call_result(job: Job, events: list[Event]) -> CallResult:
    results = [e.data for e in events if e.name == "result"]
    done = job.last("done") or {}
    error = job.last("error")
    request_id = (job.last("request") or {}).get("requestid")
    return CallResult(
        id=job.id, agent=job.meta["agent"], action=job.meta["action"],
        request_id=request_id, results=results, stats=done.get("stats"),
        summaries=job.last("summaries"), noresponsefrom=done.get("noresponsefrom", []),
        gap=done.get("gap"), dropped=job.dropped,
        error=error["message"] if error else None)


def visible_job(request: Request, who: Session, job_id: int) -> Job:
    job = console_of(request).jobs.get(job_id)
    if job is None or (job.user != who.user and not who.admin):
        raise NotFound(f"no running or recent job {job_id}; see /api/v1/history/{job_id}")
    return job


@router.get("/jobs/{job_id}", response_model=JobInfo, tags=["rpc"])
def job_info(job_id: int, request: Request, who: Session = Who) -> JobInfo:
    job = visible_job(request, who, job_id)
    return JobInfo(id=job.id, kind=job.kind, user=job.user, done=job.done,
                   results=job.results, dropped=job.dropped, meta=job.meta)


#: Events sent in one message when they come in a run: the browser handles a batch of
#: replies in one go rather than one message per node.
_BATCHED = {"result": "results", "node": "nodes"}


def sse_messages(batch: list[Event]) -> list[ServerSentEvent]:
    out: list[ServerSentEvent] = []
    run: list[Event] = []

    def close_run() -> None:
        if run:
            name = _BATCHED[run[0].name]
            out.append(ServerSentEvent(json.dumps([e.data for e in run], default=repr),
                                       event=name, id=str(run[-1].index)))
            run.clear()

    for event in batch:
        if event.name in _BATCHED:
            if run and run[0].name != event.name:
                close_run()
            run.append(event)
            continue
        close_run()
        out.append(ServerSentEvent(json.dumps(event.data, default=repr), event=event.name,
                                   id=str(event.index)))
    close_run()
    return out


@router.get("/jobs/{job_id}/events", tags=["rpc"], response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "the job's events (see the API description)"}})
async def job_events(job_id: int, request: Request, who: Session = Who,
                     last_event_id: str | None = Header(None, max_length=20)
                     ) -> EventSourceResponse:
    job = visible_job(request, who, job_id)
    start = int(last_event_id) + 1 if last_event_id and last_event_id.isdigit() else 0

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async for batch in job.follow(start):
            if not batch:
                yield ServerSentEvent(comment="still running")
                continue
            for message in sse_messages(batch):
                yield message
        yield ServerSentEvent("{}", event="end")

    return EventSourceResponse(stream(), ping=None, send_timeout=60)


# --- inventory ------------------------------------------------------------------------


@router.get("/nodes/{identity}", response_model=NodeInfo, tags=["inventory"])
async def node(identity: str, request: Request, who: Session = Who) -> NodeInfo:
    """One node's facts, classes, agents (with versions), collectives and daemon
    statistics (three direct requests)."""
    console = console_of(request)
    console.guard.limit("request_rate", who.user)
    info = await anyio.to_thread.run_sync(console.gateway.node_info, who, identity)
    return NodeInfo(**info)


@router.get("/agents", response_model=list[AgentSummary], tags=["rpc"])
def agents(request: Request, who: Session = Who) -> list[AgentSummary]:
    """Every agent installed here, with its actions, or why its DDL cannot be used."""
    entries = console_of(request).gateway.catalogue.agents()
    return [AgentSummary(**e.to_dict()) for e in entries.values()]


@router.get("/agents/{agent}", tags=["rpc"], response_model=dict[str, Any])
def agent_ddl(agent: str, request: Request, who: Session = Who) -> dict[str, Any]:
    """The agent's DDL (Choria's JSON DDL format)."""
    return console_of(request).gateway.catalogue.ddl(agent).to_dict()


# --- history ------------------------------------------------------------------------------


def visible_entry(console: Console, who: Session, entry_id: int) -> dict[str, Any]:
    entry = console.store.request(entry_id)
    if entry is None or (entry["user"] != who.user and not who.admin):
        raise NotFound(f"no history entry {entry_id}")
    return entry


@router.get("/history", response_model=list[HistoryEntry], tags=["history"])
def history(request: Request, who: Session = Who, limit: int = 50, offset: int = 0,
            user: str | None = None, kind: str | None = None) -> list[HistoryEntry]:
    """Requests sent through the console, newest first: your own, or anybody's (or
    one ``user``'s) for administrators."""
    console = console_of(request)
    if not who.admin:
        user = who.user
    limit = max(1, min(limit, 500))
    offset = max(0, min(offset, 10_000_000))
    rows = console.store.requests(user=user, limit=limit, offset=offset, kind=kind)
    return [HistoryEntry(**r) for r in rows]


@router.get("/history/{entry_id}", response_model=HistoryDetail, tags=["history"])
def history_entry(entry_id: int, request: Request, who: Session = Who,
                  replies: int = 10_000) -> HistoryDetail:
    """One request: who, what, filter, options, outcome, its replies and the requests
    related to it (re-runs, follow-up requests)."""
    console = console_of(request)
    entry = visible_entry(console, who, entry_id)
    found = console.store.replies(entry_id, limit=max(0, min(replies, 1_000_000)))
    related = [HistoryEntry(**r) for r in console.store.children(entry_id)]
    return HistoryDetail(**entry, replies=[Reply(**r) for r in found], related=related)


@router.post("/history/{entry_id}/rerun", response_model=JobCreated, tags=["history"])
def rerun(entry_id: int, request: Request, who: Session = Who) -> JobCreated:
    """Send a past RPC request again: same action, arguments, filter and options, as
    you (the caller is whoever re-runs it)."""
    console = console_of(request)
    entry = visible_entry(console, who, entry_id)
    if entry["kind"] not in ("rpc",):
        raise NotFound(f"history entry {entry_id} is a {entry['kind']} request; only "
                       "RPC requests can be re-run")
    body = CallRequest(agent=entry["agent"], action=entry["action"],
                       arguments=entry["arguments"] or {}, filter=entry["filter"],
                       **{k: v for k, v in (entry["options"] or {}).items()
                          if k in CallRequest.model_fields})
    return _created(start_call(request, who, body, rerun_of=entry_id))
