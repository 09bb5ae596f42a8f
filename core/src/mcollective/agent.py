"""Agents: classes with one method per action, described by a DDL.

An agent author writes::

    class Hello(Agent):
        '''Says hello.'''

        @action(display="always", outputs={"message": Output("The greeting")})
        def greet(self, request: AgentRequest, reply: AgentReply, *, name: str) -> None:
            reply["message"] = f"hello {name}"

and declares the class as an entry point in ``mcollective.agents``. The DDL is built from
the decorated methods (:mod:`mcollective.agent_builder`), or read from ``hello.json`` (a
Choria-format DDL) beside the module when there is one. The DDL is the contract: only
actions it declares can be called, inputs are validated against it before the method
runs, and output defaults from it are merged into every reply.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcollective.agent_builder import Input, Output, action, action_spec, build_agent_ddl
from mcollective.errors import (
    DDLError,
    RPCAborted,
    RPCError,
    UnknownRPCAction,
    rpc_error_for,
)
from mcollective.hookspecs import hookimpl

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.ddl import AgentDDL
    from mcollective.filters import Node

log = logging.getLogger(__name__)


_CANCELLED_LOCK = threading.Lock()


class AgentRequest(Mapping[str, Any]):
    """What an action sees of the request: its validated data plus who asked.

    Behaves as a read-only mapping of the input data (``request["name"]``,
    ``"name" in request``, ``request.get("x")``).

    ``time`` and ``ttl`` are the request's own, as the client signed them; ``ttl`` is
    ``None`` where whoever built the request did not say.
    """

    def __init__(self, *, agent: str, action: str, data: Mapping[str, Any], caller: str,
                 sender: str, id: str, time: float, collective: str, timeout: float,
                 ttl: int | None = None) -> None:
        self.agent, self.action, self.data = agent, action, dict(data)
        self.caller, self.sender, self.id, self.time = caller, sender, id, time
        self.collective, self.ttl = collective, ttl
        self.timeout = timeout
        self.started = time_monotonic()
        self._cancelled: threading.Event | None = None

    @property
    def cancelled(self) -> threading.Event:
        """Set when the action ran out of time: long-running actions should check it
        (or use :meth:`Agent.run`, which honours it) and stop. Made on first use: most
        actions finish without ever looking."""
        event = self._cancelled
        if event is None:
            with _CANCELLED_LOCK:
                if self._cancelled is None:
                    self._cancelled = threading.Event()
                event = self._cancelled
        return event

    @property
    def uniqid(self) -> str:
        return self.id

    def remaining(self) -> float:
        """Seconds left before the action's timeout."""
        return max(0.0, self.timeout - (time_monotonic() - self.started))

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class AgentReply(MutableMapping[str, Any]):
    """What an action fills in: reply data (a mutable mapping) and the status."""

    def __init__(self, defaults: Mapping[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(defaults or {})
        self.statuscode = 0
        self.statusmsg = "OK"

    def fail(self, message: str, code: int = 1) -> None:
        """Mark the reply failed but let the action carry on (MCollective's ``fail``)."""
        self.statuscode, self.statusmsg = code, message

    def abort(self, message: str, code: int = 1) -> None:
        """Fail and stop the action now (MCollective's ``fail!``)."""
        raise rpc_error_for(code, message)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def time_monotonic() -> float:
    return time.monotonic()


@dataclass
class AgentContext:
    """The node an agent lives on, as agents may see it."""

    config: Config
    identity: str
    node: Callable[[], Node]
    stats: Callable[[], dict[str, Any]] = field(default=lambda: {})
    agents: Callable[[], Mapping[str, Agent]] = field(default=lambda: {})
    data: Callable[[str, str | None], Mapping[str, Any] | None] = field(
        default=lambda name, query: None)
    data_plugins: Callable[[], Sequence[str]] = field(default=lambda: [])


@dataclass
class RunResult:
    exitcode: int
    stdout: str
    stderr: str
    timed_out: bool = False


class Agent:
    """Base class of every agent.

    Subclasses set :attr:`agent_name` (default: the class name in lower case) and
    describe their actions with ``@action`` (the DDL is then generated, see
    :mod:`mcollective.agent_builder`), or put a DDL beside their module as
    ``<agent_name>.json`` (or set :attr:`ddl_file`, or override :meth:`load_ddl`).
    """

    agent_name: ClassVar[str] = ""
    ddl_file: ClassVar[str | None] = None
    #: DDL metadata for a generated DDL: description, author, license, version, url,
    #: timeout (missing ones come from the installing distribution or the docstring).
    metadata: ClassVar[Mapping[str, Any]] = {}
    #: Actions cheap enough to run on the thread that received the request: in memory,
    #: no I/O, done in microseconds (``rpcutil#ping``, ``discovery#ping``). They skip
    #: the hand-off to a worker thread, which on a busy node costs more than such an
    #: action; anything that may block belongs on a worker, where the timeout watchdog
    #: sees it. Ignored (every action uses a worker) while audit or authorization
    #: plugins are configured, as those may do I/O.
    inline_actions: ClassVar[frozenset[str]] = frozenset()
    _ddl_cache: ClassVar[dict[type, AgentDDL]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("agent_name"):
            cls.agent_name = cls.__name__.lower()

    def __init__(self, context: AgentContext) -> None:
        self.context = context
        self.config = context.config
        self.log = logging.getLogger(f"mcollective.agent.{self.agent_name}")

    # --- plugin hook: an Agent subclass is its own plugin ---------------------------

    @hookimpl
    @classmethod
    def mco_agent_classes(cls) -> Sequence[type[Agent]]:
        return [cls]

    # --- DDL --------------------------------------------------------------------------

    @classmethod
    def load_ddl(cls) -> AgentDDL:
        """The agent's DDL, once per class: the JSON file beside its module when there is
        one, else generated from the ``@action`` methods."""
        cached = Agent._ddl_cache.get(cls)
        if cached is not None:
            return cached
        from mcollective.ddl import AgentDDL

        name = cls.ddl_file or f"{cls.agent_name}.json"
        try:
            text, origin = _read_beside(cls.__module__, name)
        except OSError as exc:
            if cls.ddl_file is None and cls.declares_actions():
                ddl = build_agent_ddl(cls)
                Agent._ddl_cache[cls] = ddl
                return ddl
            raise DDLError(f"agent '{cls.agent_name}' has no DDL: cannot read {name} "
                           f"beside {cls.__module__} ({exc}) and it has no @action "
                           "methods to build one from") from None
        import json

        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise DDLError(f"{origin}: not valid JSON: {exc}") from None
        ddl = AgentDDL.from_dict(obj, source=origin)
        Agent._ddl_cache[cls] = ddl
        return ddl

    @classmethod
    def declares_actions(cls) -> bool:
        """Whether any method is decorated with ``@action``."""
        return any(action_spec(getattr(cls, n, None)) is not None for n in dir(cls)
                   if not n.startswith("__"))

    @classmethod
    def build_ddl(cls) -> AgentDDL:
        """The DDL generated from the ``@action`` methods, ignoring any JSON file (to
        export it, or to compare it with a file in a test)."""
        return build_agent_ddl(cls)

    @property
    def ddl(self) -> AgentDDL:
        return type(self).load_ddl()

    @classmethod
    def activate(cls, config: Config) -> bool:
        """Whether this agent should load on this node (MCollective's ``activate_when``).
        Override to check for the tools the agent needs."""
        return True

    def startup(self) -> None:
        """Called once after the agent is created, before it serves requests."""

    def shutdown(self) -> None:
        """Called when the daemon stops or reloads its agents."""

    # --- dispatch -----------------------------------------------------------------

    def handle(self, request: AgentRequest, reply: AgentReply) -> None:
        """Run the action's method; RPC errors become the reply's status."""
        # Only methods a subclass defines are actions: never the base class's helpers.
        impl = getattr(type(self), request.action, None)
        if request.action.startswith("_") or not callable(impl) or \
                impl is getattr(Agent, request.action, None):
            raise UnknownRPCAction(
                f"Unknown action '{request.action}' for agent '{self.agent_name}'")
        method = getattr(self, request.action)
        spec = action_spec(impl)
        # Typed-parameter inputs are passed by keyword; absent optional ones keep the
        # method's own default.
        kwargs = {p: request.data[p] for p in spec.params if p in request.data} \
            if spec is not None else {}
        try:
            method(request, reply, **kwargs)
        except RPCError as exc:
            reply.statuscode, reply.statusmsg = exc.statuscode, str(exc)

    # --- helpers for actions ----------------------------------------------------------

    def run_command(self, command: Sequence[str], *, request: AgentRequest | None = None,
            timeout: float | None = None, cwd: str | Path | None = None,
            env: Mapping[str, str] | None = None, input: str | None = None) -> RunResult:
        """Run a command without a shell, bounded by ``timeout`` and by the request's
        remaining time; the process is killed when either runs out or the request is
        cancelled."""
        return run_command(command, request=request, timeout=timeout, cwd=cwd, env=env,
                           input=input)


def run_command(command: Sequence[str], *, request: AgentRequest | None = None,
                timeout: float | None = None, cwd: str | Path | None = None,
                env: Mapping[str, str] | None = None, input: str | None = None
                ) -> RunResult:
    """Run a command without a shell, bounded by ``timeout`` and by the request's
    remaining time; the process group is killed when either runs out or the request is
    cancelled. :meth:`Agent.run_command` for actions; external agents use it directly."""
    limits = [t for t in (timeout, request.remaining() if request else None)
              if t is not None]
    limit = min(limits) if limits else None
    try:
        proc = subprocess.Popen(
            list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            cwd=cwd, env=dict(env) if env is not None else None, text=True,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise RPCAborted(f"command not found: {command[0]}") from None
    except OSError as exc:
        raise RPCAborted(f"cannot run {command[0]}: {exc.strerror}") from None
    deadline = None if limit is None else time.monotonic() + limit
    comm = threading.Thread(target=lambda: results.append(proc.communicate(input)),
                            daemon=True)
    results: list[tuple[str, str]] = []
    comm.start()
    timed_out = False
    while comm.is_alive():
        step = 0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic()))
        comm.join(step)
        cancelled = request is not None and request.cancelled.is_set()
        if comm.is_alive() and (cancelled or (deadline is not None
                                              and time.monotonic() >= deadline)):
            timed_out = True
            _kill_group(proc)
            comm.join(5)
            break
    out, err = results[0] if results else ("", "")
    return RunResult(proc.returncode if proc.returncode is not None else -9,
                     out or "", err or "", timed_out)


def _read_beside(module: str, name: str) -> tuple[str, str]:
    """Read file ``name`` from the package of ``module`` (``OSError`` when there is none,
    including for modules that are not in a package, such as a test file)."""
    package = module.rpartition(".")[0] or module
    try:
        path = resources.files(package).joinpath(name)
        return path.read_text(encoding="utf-8"), str(path)
    except OSError:
        raise
    except Exception as exc:  # not a package, no spec (__main__), namespace quirks
        raise FileNotFoundError(f"{name}: {exc}") from None


def _kill_group(proc: subprocess.Popen[str]) -> None:
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()



__all__ = [
    "Agent",
    "AgentContext",
    "AgentReply",
    "AgentRequest",
    "Input",
    "Output",
    "RunResult",
    "action",
    "run_command",
]
