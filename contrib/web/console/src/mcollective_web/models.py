"""The REST API's request and response bodies (they make its OpenAPI document).

Every string and list a client sends has a bound; identifiers have the patterns the
collective gives them, so that a malformed one is a 422 before anything runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[A-Za-z0-9_]{1,100}$"
SIZE = r"^\s*[1-9][0-9]{0,8}%?\s*$"
IDENTITY = r"^[\w.\-]{1,255}$"
FILTER_HELP = ("filter bar: the -F -C -I -A -W -S options of mco, e.g. '-F country=uk -C "
               "apache'")
FILTER = Field("", max_length=4096, description=FILTER_HELP)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """What went wrong, in one line; where, when it is about a filter or an input."""

    detail: str
    position: int | None = Field(None, description="offset of the problem in the filter")
    message: str | None = Field(None, description="the message mco prints, with its caret")
    input: str | None = Field(None, description="the DDL input that is wrong")


class LoginRequest(Strict):
    username: str | None = Field(None, max_length=64)
    password: str | None = Field(None, max_length=1024)
    proof: str | None = Field(None, max_length=20000,
                              description="the line 'mco web prove CHALLENGE' printed")
    challenge: str | None = Field(None, max_length=256)


class LoginResponse(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer TOKEN'")
    expires: float
    user: str
    caller: str
    admin: bool


class Challenge(BaseModel):
    challenge: str
    expires: float
    command: str = Field(description="what to run on your own machine to answer it")


class Me(BaseModel):
    user: str
    caller: str
    admin: bool
    expires: float
    auth: str


class Status(BaseModel):
    version: str
    connected: bool
    broker: str
    security: str
    collectives: list[str]
    main_collective: str
    last_error: str | None
    running: int


class FilterCheck(Strict):
    filter: str = FILTER


class FilterCheckResult(BaseModel):
    valid: bool
    detail: str | None = None
    message: str | None = None
    position: int | None = None
    description: list[str] = []
    options: list[str] = Field(default_factory=list,
                               description="the filter as mco arguments")


class SavedFilter(Strict):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f]+$")
    filter: str = FILTER
    collective: str | None = Field(None, max_length=100)


class Options(Strict):
    """How a request is sent: the targeting options of mco rpc."""

    collective: str | None = Field(None, max_length=100, description="-T")
    timeout: float | None = Field(None, gt=0, le=86400, description="-t: seconds to "
                                  "wait for replies (default: the DDL's timeout)")
    discovery_timeout: float | None = Field(None, gt=0, le=86400, description="--dt")
    limit: str | None = Field(None, pattern=SIZE, description="--limit-nodes: N or N%")
    limit_seed: int | None = Field(None, ge=-(2**62), le=2**62, description="--limit-seed")
    batch: str | None = Field(None, pattern=SIZE, description="--batch: N or N%")
    batch_sleep: float | None = Field(None, ge=0, le=86400, description="--batch-sleep")
    nodes: list[str] | None = Field(None, max_length=100_000, description=(
        "exactly these nodes (no discovery), as --nodes"))


class DiscoverRequest(Options):
    filter: str = FILTER


class CallRequest(Options):
    agent: str = Field(pattern=NAME, examples=["rpcutil", "package"])
    action: str = Field(pattern=NAME, examples=["ping", "get_fact", "status"])
    arguments: dict[str, Any] = Field(default_factory=dict, max_length=200, description=(
        "the action's inputs: typed JSON values, or strings typed by the DDL as "
        "mco rpc key=value arguments are"), examples=[{}, {"fact": "os.family"}])
    filter: str = Field("", max_length=4096, description=FILTER_HELP,
                        examples=["", "-F role=web", "-C base -I /web/"])


class FleetRequest(Strict):
    filter: str = FILTER
    collective: str | None = Field(None, max_length=100)
    timeout: float | None = Field(None, gt=0, le=86400)
    discovery_timeout: float | None = Field(None, gt=0, le=86400)


class Reply(BaseModel):
    sender: str
    statuscode: int
    statusmsg: str
    data: Any = None


class DiscoverResult(BaseModel):
    id: int = Field(description="history entry")
    nodes: list[str]
    count: int
    seconds: float | None = None
    method: str | None = None
    trouble: str | None = None
    error: str | None = None


class CallResult(BaseModel):
    id: int = Field(description="history entry")
    agent: str
    action: str
    request_id: str | None = None
    results: list[Reply]
    stats: dict[str, Any] | None = None
    summaries: dict[str, Any] | None = None
    noresponsefrom: list[str] = []
    gap: str | None = None
    dropped: int = 0
    error: str | None = None


class JobCreated(BaseModel):
    id: int = Field(description="the job, and its history entry")
    events: str = Field(description="server-sent events of the job (text/event-stream)")
    page: str = Field(description="the console page showing it")


class JobInfo(BaseModel):
    id: int
    kind: str
    user: str
    done: bool
    results: int
    dropped: int
    meta: dict[str, Any]


class AgentSummary(BaseModel):
    agent: str
    description: str | None = None
    version: str | None = None
    error: str | None = Field(None, description="why the agent's DDL cannot be used")
    actions: list[dict[str, Any]] = []


class HistoryEntry(BaseModel):
    id: int
    parent: int | None = None
    rerun_of: int | None = None
    kind: str
    user: str
    caller: str
    agent: str
    action: str
    arguments: Any = None
    filter: str
    collective: str | None = None
    options: Any = None
    request_id: str | None = None
    started: float
    finished: float | None = None
    status: str
    error: str | None = None
    discovered: int | None = None
    responses: int | None = None
    ok: int | None = None
    failed: int | None = None
    silent: Any = None
    stats: Any = None
    summaries: Any = None
    replies_dropped: int | None = 0


class HistoryDetail(HistoryEntry):
    replies: list[Reply] = []
    related: list[HistoryEntry] = []


class NodeInfo(BaseModel):
    identity: str
    inventory: dict[str, Any] | None = None
    agent_inventory: dict[str, Any] | None = None
    daemon_stats: dict[str, Any] | None = None
    silent: list[str] = []
