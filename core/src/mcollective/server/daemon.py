"""The node daemon: receive, verify, filter, validate, run, reply.

Per message (DESIGN §6): size limit → decode → security verify → TTL window (with
``clock_skew``) → filter match → replay cache → (in a worker) DDL validation →
authorization → audit → the action, bounded by the agent's timeout → reply signed →
published to the request's reply destination. A failing step drops the message or
answers with the right status code; nothing a message contains can stop the daemon.

Threads: the connector's consumer thread runs the cheap checks and hands passed requests
to a worker thread (at most ``worker_threads`` at once; when all are busy the consumer
waits, so the broker holds the backlog). A watchdog answers requests whose action ran out
of time with status 1 and frees their worker slot, so a stuck action never blocks others.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcollective import __version__
from mcollective.agent import Agent, AgentContext, AgentReply, AgentRequest
from mcollective.audit import AuditEvent, Auditor
from mcollective.errors import (
    ConnectionFailed,
    DDLValidationError,
    MCollectiveError,
    MessageError,
    RPCError,
    SecurityError,
)
from mcollective.facts import Facts
from mcollective.log import untrusted
from mcollective.message import Reply, Request, request_bounds_error
from mcollective.plugins import PluginManager, make_plugin_manager, refresh_installed
from mcollective.registration import RegistrationContext
from mcollective.security import decode_request, encode_reply, encode_request
from mcollective.server.data_filters import DataFilterQueue
from mcollective.server.node import ClassesFile
from mcollective.server.replay import JOURNAL_AHEAD, ReplayCache
from mcollective.server.stats import Stats
from mcollective.server.workers import ElasticWorkers

if TYPE_CHECKING:
    from mcollective.authorization import Authorizer
    from mcollective.config import Config
    from mcollective.connector import Connector
    from mcollective.data import DataPlugin
    from mcollective.filters import Filter, Node
    from mcollective.registration import RegistrationPlugin
    from mcollective.security import SecurityProvider

log = logging.getLogger(__name__)

#: Compiled request filters kept (by request id) for the other identities of a process.
_FILTER_CACHE = 64


@dataclass(order=True)
class _InFlight:
    deadline: float
    seq: int
    request: Request = field(compare=False)
    identity: str = field(compare=False, default="")
    agent_request: AgentRequest | None = field(compare=False, default=None)
    lock: threading.Lock = field(compare=False, default_factory=threading.Lock)
    answered: bool = field(compare=False, default=False)
    slot_released: bool = field(compare=False, default=False)
    #: The watchdog answered while the action still ran: its thread is stuck until the
    #: action returns (counted per agent, see Daemon._stuck).
    stuck: bool = field(compare=False, default=False)


class Daemon:
    """One node: its plugins, agents, connection and message pipeline."""

    #: Filters asking data plugins are matched on their own threads, not the consumer's
    #: (an emulator answering for thousands of identities matches them in line).
    defer_data_filters: ClassVar[bool] = True

    def __init__(self, config: Config, *, plugins: PluginManager | None = None) -> None:
        self.config = config
        self.plugins = plugins or make_plugin_manager()
        self.identity = config.identity
        self.stats = Stats()
        self.replay_cache = ReplayCache(config.replay_cache_size,
                                        config.replay_cache_per_caller)
        #: False when the previous run's replay cache was lost (it did not stop cleanly):
        #: requests sent before this start are then refused (docs/security.md).
        self._replay_complete = True
        self.connector: Connector | None = None
        self.security: SecurityProvider | None = None
        self.facts = Facts()
        self.classes = ClassesFile(config.classesfile)
        self.agents: dict[str, Agent] = {}
        self.data_plugins: dict[str, DataPlugin] = {}
        self.auditors: list[tuple[str, Auditor]] = []
        self.authorizer: Authorizer | None = None
        self.registration: RegistrationPlugin | None = None
        self._slots = threading.BoundedSemaphore(config.worker_threads)
        self._workers = ElasticWorkers("request")
        self._inflight: dict[int, _InFlight] = {}
        self._deadlines: list[_InFlight] = []
        self._inflight_cv = threading.Condition()
        self._seq = itertools.count()
        self._filters: dict[str, tuple[dict[str, list[Any]], Filter]] = {}
        self._data_filters = DataFilterQueue()
        #: agent -> actions still running past their timeout (each holds a thread:
        #: pure Python cannot be interrupted). At ``max_stuck_actions`` the agent's new
        #: requests are refused, so hung actions cannot grow the process without bound.
        self._stuck: dict[str, int] = {}
        self._stuck_lock = threading.Lock()
        self._stopping = threading.Event()
        #: Set once the node is subscribed and serving (see begin()).
        self.ready = threading.Event()
        #: Why the node will never be ready (set instead of ``ready``).
        self.failure: MCollectiveError | None = None
        #: Set with either of them.
        self.settled = threading.Event()
        self._gave_up: float | None = None
        self._accepting = False
        self._threads: list[threading.Thread] = []
        from mcollective.validators import plugin_resolver

        self._validator = plugin_resolver(self.plugins)

    # --- start-up -------------------------------------------------------------------

    def start(self) -> None:
        """Load plugins and agents, connect, subscribe and start serving; return once
        serving. Raises what :meth:`begin` raises, or :class:`ConnectionFailed` when
        ``connection_timeout`` passes before the middleware answers."""
        self.begin()
        self.wait_ready()

    def begin(self) -> None:
        """Load plugins and agents, then connect and subscribe in the background.

        A broken connector or security plugin, or a bad plugin setting, raises here at
        once (fatal); broken optional plugins are logged by name and skipped. The
        middleware need not be up: a node keeps trying for ever (or for
        ``connection_timeout`` seconds, if set) and serves once it answers. ``ready``
        is set then; ``failure`` says why it never will.
        """
        config = self.config
        self._load_replay_cache()
        self.security = self.plugins.create_security(config, "server")
        self.connector = self.plugins.create_connector(config)
        self.connector.on_malformed = self._transport_malformed
        if self.connector.reports_replies:
            self.connector.on_replies = self._replies_published
        self._load_node_plugins(config)
        limit = config.connect_limit()
        if not math.isinf(limit):
            timer = threading.Timer(limit, self._give_up, args=(limit,))
            timer.daemon = True
            timer.start()
        self._spawn(self._connect_and_serve, "connect")

    def _replay_path(self) -> Path:
        return self.config.statedir / f"replay-{self.identity}.json"

    def _load_replay_cache(self) -> None:
        """Remember the ids the previous run saved on a clean stop; if it did not stop
        cleanly, refuse requests sent before this start (their ids are lost)."""
        if self.replay_cache.capacity <= 0:
            return
        path = self._replay_path()
        self._replay_complete = self.replay_cache.load(path, time.time())
        if not self._replay_complete:
            log.warning("the previous run did not save its replay cache (%s): requests "
                        "sent before this start are refused", path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.replay_cache.mark_running(path)
        except OSError as exc:
            self._replay_complete = False
            log.warning("cannot write the replay cache marker %s (%s): requests sent "
                        "before this start are refused", path, exc.strerror or exc)

    def _save_replay_cache(self) -> None:
        if self.replay_cache.capacity <= 0:
            return
        try:
            self.replay_cache.save(self._replay_path(), time.time())
        except OSError as exc:
            log.warning("cannot save the replay cache to %s: %s", self._replay_path(),
                        exc.strerror or exc)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until serving (True), or ``timeout`` (False); raise the failure if
        starting failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ready.is_set():
            if self.failure is not None:
                raise self.failure
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self.settled.wait(0.5 if left is None else min(left, 0.5))
        return True

    def _give_up(self, limit: float) -> None:
        """``connection_timeout`` passed before the middleware answered."""
        if self.ready.is_set() or self._stopping.is_set() or self.connector is None:
            return
        self._gave_up = limit
        self.connector.close()  # wakes connect(), which raises

    def _connect_and_serve(self) -> None:
        assert self.connector is not None
        try:
            # math.inf: the connector keeps trying (jittered back-off) until it works
            # or is closed; it logs the reason once. _give_up enforces a limit.
            self.connector.connect(timeout=math.inf)
            self._serve()
        except Exception as exc:
            if self._stopping.is_set():
                return
            if self._gave_up is not None:
                exc = ConnectionFailed(f"gave up after {self._gave_up:g}s "
                                       f"(connection_timeout): {exc or type(exc).__name__}")
            elif not isinstance(exc, MCollectiveError):
                log.debug("start-up failure", exc_info=True)
                exc = MCollectiveError(f"{type(exc).__name__}: {exc}")
            self.failure = exc
            self.settled.set()
            return
        self.ready.set()
        self.settled.set()

    def _serve(self) -> None:
        """Connected: consume, subscribe, and start the helper threads."""
        assert self.connector is not None
        config = self.config
        self._accepting = True
        self.connector.start(self.handle_message)
        self._subscribe_until_done()
        self._spawn(self._watchdog, "watchdog")
        if config.registerinterval > 0 and self.registration is not None:
            self._spawn(self._registration_loop, "registration")
        log.info("mcollectived %s ready: identity=%s collectives=%s agents=%s",
                 __version__, self.identity, ",".join(config.collectives),
                 ",".join(sorted(self.agents)))

    def _subscribe_until_done(self) -> None:
        """Subscribe, retrying with a jittered, growing pause (at most 30 s) for as long
        as the middleware refuses: a node that gave up here would be alive and deaf.
        Only stopping, or ``connection_timeout`` passing, ends the attempts."""
        assert self.connector is not None
        delay = 0.5
        failures = 0
        while True:
            try:
                self.connector.subscribe_node(self.identity, self.config.collectives,
                                              list(self.agents))
                if failures:
                    log.info("subscribed after %d failed attempt(s)", failures)
                return
            except ConnectionFailed as exc:
                if self._stopping.is_set() or self._gave_up is not None:
                    raise
                (log.debug if failures else log.warning)(
                    "subscribing failed: %s; retrying until it works", exc)
                failures += 1
                if self._stopping.wait(random.uniform(delay / 2, delay)):
                    raise
                delay = min(delay * 2, 30.0)

    def _replies_published(self, sent: int, failed: int) -> None:
        """The connector's account of replies it published (or could not): only
        replies that left are counted as ``replies``."""
        if sent:
            self.stats.incr("replies", sent)
        if failed:
            self.stats.incr("reply_errors", failed)

    def _transport_malformed(self, reason: str) -> None:
        """The connector received something it could not decode into a message at
        all: counted like a message that is not a request (``total`` and
        ``malformed``), so every received message is in exactly one category."""
        self.stats.incr("total")
        self.stats.incr("malformed")

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _load_node_plugins(self, config: Config) -> None:
        previous = self.facts
        self.facts = Facts(self.plugins.create_facts_sources(config))
        self.facts.succeed(previous)  # a reload keeps the facts while sources refresh
        self.facts.start()  # slow sources (Facter, Ohai) begin in the background
        self.classes = ClassesFile(config.classesfile)
        self.data_plugins = dict(self.plugins.create_data_plugins(config))
        # Data plugins such as fact() and agent() answer about this node.
        for data_plugin in self.data_plugins.values():
            if hasattr(data_plugin, "attach"):
                data_plugin.attach(self._agent_context())
        self.auditors = self.plugins.create_auditors(config) if config.rpcaudit else []
        self.authorizer = (self.plugins.create_authorizer(config)
                           if config.rpcauthorization else None)
        self.registration = (self.plugins.create_registration(config)
                             if config.registerinterval > 0 else None)
        self.agents = self._load_agents(config)

    def _load_agents(self, config: Config) -> dict[str, Agent]:
        disabled = [n for n in _installed_agent_names() if not config.agent_enabled(n)]
        classes = self.plugins.agent_classes(config, exclude=disabled)
        context = self._agent_context()
        agents: dict[str, Agent] = {}
        for name, cls in sorted(classes.items()):
            if not config.agent_enabled(name):
                log.info("agent '%s' disabled by configuration", name)
                continue
            try:
                cls.load_ddl()
                if not cls.activate(config):
                    log.info("agent '%s' not activated on this node", name)
                    continue
                agent = cls(context)
                agent.startup()
            except Exception as exc:
                log.error("agent '%s' (%s) failed to load: %s", name, cls.__module__, exc)
                log.debug("agent load failure", exc_info=True)
                continue
            agents[name] = agent
        return agents

    def _agent_context(self) -> AgentContext:
        return AgentContext(
            config=self.config, identity=self.identity, node=self.node,
            stats=self.daemon_stats, agents=lambda: dict(self.agents),
            data=self.query_data, data_plugins=lambda: sorted(self.data_plugins),
        )

    # --- what this node is ------------------------------------------------------------

    def node(self, identity: str | None = None) -> Node:
        from mcollective.filters import Node

        return Node(
            identity=identity or self.identity, facts=self.facts.get(),
            classes=self.classes.get(), agents=list(self.agents),
            collectives=list(self.config.collectives), data=self.query_data,
        )

    def query_data(self, name: str, query: str | None, *, deadline: float | None = None
                   ) -> Mapping[str, Any] | None:
        plugin = self.data_plugins.get(name)
        if plugin is None:
            return None
        try:
            return plugin.query(query, deadline=deadline)
        except Exception as exc:
            log.debug("data plugin '%s' failed for %s: %s", name, untrusted(repr(query)),
                      untrusted(exc))
            return None

    def daemon_stats(self) -> dict[str, Any]:
        import psutil

        proc = psutil.Process()
        cpu = proc.cpu_times()
        out: dict[str, Any] = dict(self.stats.snapshot())
        out.update({
            "threads": sorted(f"{t.name}" for t in threading.enumerate()),
            "agents": sorted(self.agents),
            "pid": os.getpid(),
            "times": {"utime": cpu.user, "stime": cpu.system,
                      "cutime": cpu.children_user, "cstime": cpu.children_system},
            "starttime": self.stats.starttime,
            "configfile": str(self.config.path) if self.config.path else "",
            "version": __version__,
            "inflight": len(self._inflight),
            "stuck_actions": self.stuck_actions(),
            "replay_cache": self.replay_cache.describe(),
        })
        facts = self.facts.describe()
        if facts:
            out["facts"] = facts
        if self.connector is not None:
            out["connector"] = self.connector.describe()
        return out

    def stuck_actions(self) -> dict[str, int]:
        """Agent -> actions still running past their timeout, now."""
        with self._stuck_lock:
            return dict(self._stuck)

    # --- the pipeline ---------------------------------------------------------------

    def handle_message(self, body: bytes, identity: str | None = None) -> None:
        """Consumer-thread entry point for one received message. Never raises."""
        try:
            self._handle(body, identity or self.identity)
        except Exception:  # the daemon outlives every message
            self.stats.incr("errors")
            log.exception("unexpected error handling a message")

    def _handle(self, body: bytes, identity: str) -> None:
        stats = self.stats
        stats.incr("total")
        if not self._accepting:
            return
        assert self.security is not None
        if len(body) > self.config.max_message_size:
            # Before any parsing: a huge body must not cost JSON decoding or hashing.
            stats.incr("oversized")
            log.warning("dropped a %d byte message: larger than max_message_size (%d)",
                        len(body), self.config.max_message_size)
            return
        try:
            request = decode_request(body, self.security)
        except SecurityError as exc:
            stats.incr("unvalidated")
            log.warning("rejected request: %s", untrusted(exc))
            return
        except MessageError as exc:
            stats.incr("malformed")
            log.warning("dropped malformed message (%d bytes): %s", len(body), untrusted(exc))
            return
        stats.incr("validated")
        problem = request_bounds_error(request, self.config.max_ttl)
        if problem is not None:
            # Before anything uses the fields: an absurd ttl or a reply_to too long for
            # a routing key would make the broker close the publishing connection.
            stats.incr("outofbounds")
            log.warning("dropped request %s from %s: %s", request.id,
                        untrusted(request.caller), problem)
            return
        now = time.time()
        age = now - request.time
        skew = self.config.clock_skew
        ttl = request.ttl
        if age > ttl + skew or -age > skew:
            stats.incr("ttlexpired")
            log.warning("request %s from %s expired: sent %.1fs %s, ttl %ds, clock_skew %gs "
                        "(check clocks)", request.id, untrusted(request.caller), abs(age),
                        "ago" if age > 0 else "in the future", ttl, skew)
            return
        if (not self._replay_complete
                and request.time < self.stats.starttime + JOURNAL_AHEAD):
            # The previous run's replay cache is lost: this request may have been
            # accepted by it already.
            stats.incr("ttlexpired")
            log.warning("request %s from %s was sent before this daemon started, and the "
                        "previous run's replay cache was lost: dropped", request.id,
                        untrusted(request.caller))
            return
        if request.collective not in self.config.collectives:
            stats.incr("filtered")
            log.debug("request %s for collective %s which this node is not in",
                      request.id, untrusted(request.collective))
            return
        try:
            compiled = self._compiled_filter(request)
        except (MCollectiveError, ValueError) as exc:
            stats.incr("filtered")
            log.warning("request %s has an unusable filter: %s", request.id, untrusted(exc))
            return
        if compiled is not None and compiled.asks_data():
            if not self.defer_data_filters:
                self._filter_with_data(request, identity, compiled)
            # Plugin code with its own cost: not on this thread (data_filters.py).
            elif not self._data_filters.submit(self._filter_with_data, request, identity,
                                               compiled):
                stats.incr("filtered")
                log.warning("request %s from %s dropped: %d requests whose filters ask "
                            "data plugins are already waiting", request.id,
                            untrusted(request.caller), self._data_filters.pending)
            return
        if compiled is not None and not compiled.matches(self.node(identity)):
            stats.incr("filtered")
            return
        self._accept(request, identity)

    def _filter_with_data(self, request: Request, identity: str, compiled: Filter) -> None:
        """On a data-filter thread: match within ``max_filter_seconds``, then go on as
        the consumer would have."""
        if not self._accepting:
            return
        try:
            node = self.node(identity)
            deadline = time.monotonic() + self.config.max_filter_seconds
            query = self.query_data
            node.data = lambda name, arg: query(name, arg, deadline=deadline)
            matched = compiled.matches(node)
            if time.monotonic() > deadline:
                log.warning("request %s from %s: its filter's data queries ran out of time "
                            "(max_filter_seconds = %g)", request.id,
                            untrusted(request.caller), self.config.max_filter_seconds)
        except Exception:
            self.stats.incr("errors")
            self.stats.incr("filtered")
            log.exception("matching request %s failed", request.id)
            return
        if not matched:
            self.stats.incr("filtered")
            return
        self._accept(request, identity)

    def _accept(self, request: Request, identity: str) -> None:
        """A request whose filter this identity passes: unless it is a replay, act."""
        stats = self.stats
        now = time.time()
        window = request.ttl + self.config.clock_skew
        # After the filter, so only requests this identity would act on are remembered;
        # keyed by identity because one daemon may answer for several.
        # Journalled when sent with a time ahead of this clock: after a crash, refusing
        # requests sent before the restart would not cover it (replay.py).
        fresh = self.replay_cache.check_and_add((identity, request.id),
                                                request.time + window, now, request.caller,
                                                journal=request.time > now + JOURNAL_AHEAD)
        if fresh is None:
            # Full of unexpired ids (or this caller's share is): forgetting one early
            # would allow its replay, so the new request is refused instead.
            stats.incr("replayfull")
            log.warning("request %s from %s refused: the replay cache is full for this "
                        "caller (replay_cache_size, replay_cache_per_caller)",
                        request.id, untrusted(request.caller))
            self._audit(request, request.action or "", request.data, False,
                        "refused: replay cache full for this caller", None)
            return
        if not fresh:
            stats.incr("replayed")
            log.warning("request %s from %s (sender %s) was already received: replay dropped",
                        request.id, untrusted(request.caller), untrusted(request.sender))
            self._audit(request, request.action or "", request.data, False,
                        "replayed: request id already received within its TTL", None)
            return
        stats.incr("passed")
        self._dispatch(request, identity)

    def _compiled_filter(self, request: Request) -> Filter | None:
        """The request's filter, compiled (``None``: empty, every node passes). Kept per
        request id for a while, as a process answering for several identities (an
        emulator) gets the same request once per identity."""
        if not any(request.filter.values()):
            return None
        cached = self._filters.get(request.id)
        if cached is not None and cached[0] == request.filter:
            return cached[1]
        from mcollective.filters import Filter

        compiled = Filter.from_dict(request.filter)
        if len(self._filters) >= _FILTER_CACHE:
            self._filters.pop(next(iter(self._filters)), None)
        self._filters[request.id] = (request.filter, compiled)
        return compiled

    def _dispatch(self, request: Request, identity: str) -> None:
        agent = self.agents.get(request.agent)
        timeout = float(agent.ddl.metadata.timeout) if agent is not None else 10.0
        if agent is not None:
            with self._stuck_lock:
                stuck = self._stuck.get(request.agent, 0)
            if stuck >= self.config.max_stuck_actions:
                self.stats.incr("refused")
                log.warning("refused %s#%s (request %s): %d of its actions are stuck past "
                            "their timeout (max_stuck_actions)", request.agent,
                            request.action, request.id, stuck)
                self._send(request, self._reply(
                    request, identity, 1,
                    f"{request.agent} on {identity} is refusing new requests: {stuck} of "
                    f"its actions are still running past their {timeout:g} second "
                    f"timeout (max_stuck_actions = {self.config.max_stuck_actions})"))
                return
        if (agent is not None and request.action in agent.inline_actions
                and not self.auditors and self.authorizer is None):
            # Here, on the receiving thread: no slot, no watchdog, no hand-off.
            entry = _InFlight(0.0, -1, request, identity)
            self._send(request, self._answer(entry, identity, timeout))
            return
        self._slots.acquire()
        entry = _InFlight(time.monotonic() + timeout, next(self._seq), request, identity)
        with self._inflight_cv:
            self._inflight[entry.seq] = entry
            heapq.heappush(self._deadlines, entry)
            if self._deadlines[0] is entry:  # the watchdog sleeps until the earliest
                self._inflight_cv.notify_all()
        try:
            self._workers.submit(self._run, entry, identity, timeout)
        except RuntimeError:
            self._finish(entry, None)
            raise

    def _run(self, entry: _InFlight, identity: str, timeout: float) -> None:
        self._finish(entry, self._answer(entry, identity, timeout))

    def _answer(self, entry: _InFlight, identity: str, timeout: float) -> Reply:
        try:
            return self._execute(entry, identity, timeout)
        except Exception as exc:  # pragma: no cover - _execute maps its own errors
            log.exception("request %s failed", entry.request.id)
            return self._reply(entry.request, identity, 5, f"{type(exc).__name__}: {exc}")

    def _execute(self, entry: _InFlight, identity: str, timeout: float) -> Reply:
        request = entry.request
        action = request.action or ""
        agent = self.agents.get(request.agent)
        if agent is None:
            return self._reply(request, identity, 2,
                               f"Unknown agent '{request.agent}' on {identity}")
        try:
            action_ddl = agent.ddl.action(action)
        except RPCError as exc:
            return self._reply(request, identity, exc.statuscode, str(exc))
        try:
            data = action_ddl.validate(request.data, validators=self._validator)
        except DDLValidationError as exc:
            return self._reply(request, identity, 3 if exc.missing else 4, str(exc))
        decision_reason = notice = ""
        if self.authorizer is not None:
            try:
                decision = self.authorizer.authorize(request, action, self.node(identity))
                allowed, decision_reason = decision.allowed, decision.reason
                notice = decision.notice
            except Exception as exc:
                allowed, decision_reason = False, f"authorization failed: {exc}"
                log.exception("authorization plugin failed")
            if not allowed:
                self.stats.incr("authfailures")
                self._audit(request, action, data, False, decision_reason, 1)
                return self._reply(request, identity, 1,
                                   "You are not authorized to call this agent or action"
                                   + (f": {notice}" if notice else ""))
        self._audit(request, action, data, True if self.authorizer else None,
                    decision_reason, None)
        agent_request = AgentRequest(
            agent=request.agent, action=action, data=data, caller=request.caller,
            sender=request.sender, id=request.id, time=request.time,
            collective=request.collective, timeout=timeout, ttl=request.ttl,
        )
        entry.agent_request = agent_request
        agent_reply = AgentReply(action_ddl.output_defaults())
        try:
            agent.handle(agent_request, agent_reply)
        except RPCError as exc:
            agent_reply.fail(str(exc), exc.statuscode)
        except Exception as exc:
            self.stats.incr("errors")
            log.exception("%s#%s raised", request.agent, action)
            agent_reply.fail(f"{type(exc).__name__}: {exc}", 5)
        return self._reply(request, identity, agent_reply.statuscode, agent_reply.statusmsg,
                           agent_reply.data)

    def _audit(self, request: Request, action: str, data: dict[str, Any],
               authorized: bool | None, reason: str, status: int | None) -> None:
        if not self.auditors:
            return
        event = AuditEvent(
            time=time.time(), request_id=request.id, request_time=request.time,
            caller=request.caller, sender=request.sender, agent=request.agent,
            action=action, data=data, collective=request.collective,
            authorized=authorized, reason=reason, statuscode=status,
        )
        for name, auditor in self.auditors:
            try:
                auditor.audit(event)
            except Exception:
                log.exception("audit plugin '%s' failed; request continues", name)

    def _reply(self, request: Request, identity: str, code: int, message: str,
               data: Any = None) -> Reply:
        return Reply(request=request.id, sender=identity, agent=request.agent,
                     statuscode=code, statusmsg=message,
                     data=data if data is not None else {})

    def _finish(self, entry: _InFlight, reply: Reply | None) -> None:
        """Send the reply unless the watchdog already answered, and free the slot."""
        with entry.lock:
            send = not entry.answered and reply is not None
            entry.answered = True
            was_stuck, entry.stuck = entry.stuck, False
        if was_stuck:
            with self._stuck_lock:
                left = self._stuck.get(entry.request.agent, 1) - 1
                if left > 0:
                    self._stuck[entry.request.agent] = left
                else:
                    self._stuck.pop(entry.request.agent, None)
        if send and reply is not None:
            self._send(entry.request, reply)
        elif reply is not None:
            log.info("request %s finished after its timeout; late result discarded",
                     entry.request.id)
        self._release(entry)

    def _release(self, entry: _InFlight) -> None:
        with entry.lock:
            if entry.slot_released:
                return
            entry.slot_released = True
        with self._inflight_cv:
            self._inflight.pop(entry.seq, None)
            if not self._inflight:  # stop() waits for this
                self._inflight_cv.notify_all()
        self._slots.release()

    def _send(self, request: Request, reply: Reply) -> None:
        if not request.process_results:
            return
        if not request.reply_to:
            log.warning("request %s has no reply destination; reply dropped", request.id)
            return
        assert self.security is not None and self.connector is not None
        try:
            body = encode_reply(reply, self.security)
            self.connector.publish_reply(body, request.reply_to, ttl=request.ttl)
            if not self.connector.reports_replies:
                self.stats.incr("replies")
        except Exception as exc:
            self.stats.incr("reply_errors")
            log.error("could not publish reply to %s for request %s: %s",
                      untrusted(request.reply_to), request.id, exc)

    def _watchdog(self) -> None:
        """Answer requests whose action outlived its timeout, and free their slots."""
        while not self._stopping.is_set():
            with self._inflight_cv:
                while self._deadlines and self._deadlines[0].seq not in self._inflight:
                    heapq.heappop(self._deadlines)
                # Nothing in flight: sleep until a request (or stop) notifies us, not
                # once a second (an idle daemon wakes for nothing; see bench/cli.py).
                wait: float | None = None
                if self._deadlines:
                    wait = max(0.0, self._deadlines[0].deadline - time.monotonic())
                if wait is None or wait > 0:
                    self._inflight_cv.wait(wait)
                    continue
                entry = heapq.heappop(self._deadlines)
            self._time_out(entry)

    def _time_out(self, entry: _InFlight) -> None:
        with entry.lock:
            if entry.answered:
                return
            entry.answered = True
            # Its worker is still in the action (else _finish had answered): stuck
            # until the action returns, which _finish records.
            entry.stuck = True
        with self._stuck_lock:
            self._stuck[entry.request.agent] = self._stuck.get(entry.request.agent, 0) + 1
        self.stats.incr("timeouts")
        self.stats.incr("stuck")
        request = entry.request
        agent = self.agents.get(request.agent)
        timeout = agent.ddl.metadata.timeout if agent else 10
        if entry.agent_request is not None:
            entry.agent_request.cancelled.set()
        log.warning("%s#%s (request %s) timed out after %ss", request.agent,
                    request.action, request.id, timeout)
        self._send(request, self._reply(
            request, entry.identity, 1,
            f"{request.agent}#{request.action} timed out after {timeout} seconds"))
        self._release(entry)

    # --- registration ---------------------------------------------------------------

    def _registration_loop(self) -> None:
        interval = self.config.registerinterval
        if self.config.registration_splay and self._stopping.wait(random.uniform(0, interval)):
            return
        while not self._stopping.is_set():
            try:
                self.register_once()
            except Exception:
                log.exception("registration failed; will retry in %ss", interval)
            if self._stopping.wait(interval):
                return

    def register_once(self) -> None:
        """Publish one registration: a fire-and-forget request to agent
        ``registration``, action ``register``, data ``{"payload": {...}}`` (the plugin's
        object), filter ``agent=registration``, into ``registration_collective``."""
        if self.registration is None or self.connector is None or self.security is None:
            return
        config = self.config
        context = RegistrationContext(
            identity=self.identity, agents=sorted(self.agents), facts=dict(self.facts.get()),
            classes=list(self.classes.get()), collectives=list(config.collectives))
        body = self.registration.payload(context)
        if body is None:
            return
        if not isinstance(body, Mapping):
            # The wire format is always an object (the receiver's DDL says so); a
            # third-party plugin returning a list or a string still registers.
            body = {"identity": self.identity, "data": body}
        collective = config.registration_collective
        if collective not in config.collectives:
            log.warning("registration_collective %s is not one of this node's collectives; "
                        "using %s", collective, config.main_collective)
            collective = config.main_collective
        from mcollective.message import empty_filter

        flt = empty_filter()
        flt["agent"] = ["registration"]
        request = Request(
            agent="registration", collective=collective, sender=self.identity,
            caller=f"identity={self.identity}",
            message={"action": "register", "data": {"payload": dict(body)},
                     "process_results": False},
            filter=flt, ttl=config.ttl,
        )
        self.connector.publish_request(encode_request(request, self.security),
                                       collective=collective, agent="registration",
                                       ttl=config.ttl)

    # --- reload and stop --------------------------------------------------------------

    def reload(self, new_config: Config) -> None:
        """Apply a reloaded configuration: facts, agents, audit, authorization and
        subscriptions. Connector and security changes need a restart."""
        old = self.config
        for key in ("connector", "securityprovider", "identity"):
            if getattr(old, key) != getattr(new_config, key):
                log.warning("'%s' changed; restart mcollectived to apply it", key)
        identity = self.identity
        self.config = new_config
        self.config.identity = identity
        old_agents = self.agents
        try:
            refresh_installed()  # agents installed since the start load now
        except Exception:  # a reload must never take the daemon down
            log.exception("could not look for newly installed plugins")
        try:
            self._load_node_plugins(new_config)
        except MCollectiveError as exc:
            log.error("reload failed, keeping the previous configuration: %s", exc)
            self.config, self.agents = old, old_agents
            return
        self.facts.reload()
        self.replay_cache.capacity = new_config.replay_cache_size
        self.replay_cache.per_caller = new_config.replay_cache_per_caller
        for name, agent in old_agents.items():
            if self.agents.get(name) is not agent:
                try:
                    agent.shutdown()
                except Exception:
                    log.exception("agent '%s' failed to shut down", name)
        assert self.connector is not None
        if self.ready.is_set():  # else _serve() subscribes these agents once connected
            self.connector.subscribe_node(self.identity, new_config.collectives,
                                          list(self.agents))
        log.info("reloaded: collectives=%s agents=%s", ",".join(new_config.collectives),
                 ",".join(sorted(self.agents)))

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking requests, let in-flight actions finish (up to ``timeout``), then
        disconnect."""
        if self._stopping.is_set():
            return
        self._accepting = False
        if self.connector is not None:
            try:
                self.connector.unsubscribe_node(self.identity)
            except Exception:
                log.debug("unsubscribe failed during stop", exc_info=True)
        deadline = time.monotonic() + (timeout if timeout is not None else 0)
        with self._inflight_cv:
            while self._inflight and time.monotonic() < deadline:
                self._inflight_cv.wait(min(0.1, deadline - time.monotonic()))
            left = len(self._inflight)
        if left:
            log.warning("stopping with %d request(s) still running", left)
        self._stopping.set()
        self._save_replay_cache()
        with self._inflight_cv:
            self._inflight_cv.notify_all()
        self._data_filters.shutdown()
        self._workers.shutdown()
        for agent in self.agents.values():
            try:
                agent.shutdown()
            except Exception:
                log.exception("agent '%s' failed to shut down", agent.agent_name)
        for _, auditor in self.auditors:
            try:
                auditor.close()
            except Exception:
                log.exception("audit plugin failed to close")
        if self.connector is not None:
            self.connector.close()
        log.info("mcollectived stopped")


def _installed_agent_names() -> list[str]:
    from mcollective.plugins import installed_names

    return installed_names("agent")
