"""The console's side of the collective: one broker connection, each user's requests
signed in that user's name, every request recorded.

The console holds one :class:`~mcollective.client.ClientSession` (one connection, one
reply queue) for everybody. A user's requests go through
:meth:`ClientSession.as_caller` with the security plugin's
:meth:`~mcollective.security.SecurityProvider.delegate` provider for that user, so
the nodes' authorization (actionpolicy) and audit log see ``user=alice``, not the
console. Which identity the console may sign for is the security plugin's decision:
with ``psk`` any caller id (every key holder can); with ``jwt`` only callers whose own
token the console holds, and only when the console's token is a delegator token.

The operations (:meth:`Gateway.run_rpc`, :meth:`Gateway.run_discovery`,
:meth:`Gateway.run_fleet`, :meth:`Gateway.node_info`) run on worker threads and use
the client API exactly as ``mco`` does: the same filters, discovery, limits, batches,
DDL validation and aggregates.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcollective.client import ClientSession, RPCClient
from mcollective.errors import ConnectionFailed, MCollectiveError
from mcollective_web import filterbar
from mcollective_web.catalogue import Catalogue

if TYPE_CHECKING:
    from mcollective.client.results import Result
    from mcollective.config import Config
    from mcollective.plugins import PluginManager
    from mcollective.security import SecurityProvider
    from mcollective_web.jobs import Job
    from mcollective_web.settings import WebSettings
    from mcollective_web.store import Session, Store

log = logging.getLogger(__name__)

IDENTITY_RE = re.compile(r"^[\w.\-]{1,255}$")
#: Replies written to the history in one transaction.
STORE_BATCH = 250
#: Seconds between two live updates of the summaries.
SUMMARY_INTERVAL = 0.5
#: Delegated signers kept (one per caller and credential).
SIGNER_CACHE = 256


@dataclass
class CallOptions:
    """How a request is sent: the options of ``mco rpc`` a console offers."""

    collective: str | None = None
    timeout: float | None = None
    discovery_timeout: float | None = None
    limit: str | None = None
    limit_seed: int | None = None
    batch: str | None = None
    batch_sleep: float | None = None
    nodes: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CallOptions:
        data = dict(data or {})
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


@dataclass
class Prepared:
    """A call checked and ready to send: nothing of it can fail for the user's input."""

    client: RPCClient
    spec: filterbar.FilterSpec
    options: CallOptions
    action: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def result_dict(result: Result) -> dict[str, Any]:
    return {"sender": result.sender, "statuscode": result.statuscode,
            "statusmsg": result.statusmsg, "data": result.data, "time": result.time}


class Recorder:
    """Writes one request's replies into the history in batches."""

    def __init__(self, store: Store, row: int, limit: int) -> None:
        self.store, self.row, self.limit = store, row, limit
        self.kept = 0
        self.dropped = 0
        self._buffer: list[dict[str, Any]] = []

    def add(self, reply: dict[str, Any]) -> None:
        if self.kept >= self.limit:
            self.dropped += 1
            return
        self.kept += 1
        self._buffer.append(reply)
        if len(self._buffer) >= STORE_BATCH:
            self.flush()

    def flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        self.store.add_replies(self.row, buffer)


class Gateway:
    def __init__(self, config: Config, plugins: PluginManager, settings: WebSettings,
                 store: Store) -> None:
        self.config = config
        self.plugins = plugins
        self.settings = settings
        self.store = store
        # Creating the session creates the security provider: a misconfigured one stops
        # `mco web` at start-up with the plugin's own message.
        self.session = ClientSession(config, plugins=plugins)
        self.catalogue = Catalogue(plugins, config)
        self._signers: OrderedDict[tuple[str, str | None], SecurityProvider] = OrderedDict()
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def close(self) -> None:
        self.session.close()

    # --- status ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        connector = self.session.connector
        return {
            "connected": connector is not None,
            "broker": self.session.broker_name(),
            "security": self.session.security.name,
            "collectives": list(self.config.collectives),
            "main_collective": self.config.main_collective,
            "last_error": self.last_error,
            "counters": dict(self.session.counters),
        }

    def connect(self) -> None:
        """Connect now (start-up, status checks); remembers the failure for the
        status line instead of raising."""
        try:
            self.session.connect()
            self.last_error = None
        except MCollectiveError as exc:
            self.last_error = str(exc)
            log.warning("cannot connect to the middleware yet: %s", exc)

    # --- identities -------------------------------------------------------------------

    def session_for(self, who: Session) -> ClientSession:
        """A session signing as ``who`` (see the module doc)."""
        key = (who.caller, who.credential)
        with self._lock:
            security = self._signers.get(key)
            if security is not None:
                self._signers.move_to_end(key)
        if security is None:
            security = self.session.security.delegate(who.caller, who.credential)
            with self._lock:
                self._signers[key] = security
                while len(self._signers) > SIGNER_CACHE:
                    self._signers.popitem(last=False)
        return self.session.as_caller(security)

    # --- preparing calls (on the event loop: no I/O, quick) ----------------------------

    def prepare(self, who: Session, agent: str, filter_text: str,
                options: CallOptions) -> Prepared:
        """A client for ``agent`` with the filter and options applied, or the
        first mistake as an :class:`MCollectiveError` (a :class:`FilterBarError`
        says where in the filter)."""
        spec = filterbar.parse(filter_text or "")
        self._check_options(options)
        client = RPCClient(
            agent, session=self.session_for(who), collective=options.collective,
            timeout=options.timeout, discovery_timeout=options.discovery_timeout,
            limit=options.limit, limit_seed=options.limit_seed,
            batch_size=options.batch, batch_sleep_time=options.batch_sleep)
        spec.apply(client)
        if options.nodes is not None:
            client.discover(nodes=options.nodes)  # no network: the list is the targets
        return Prepared(client, spec, options)

    def prepare_call(self, who: Session, agent: str, action: str,
                     arguments: dict[str, Any], filter_text: str,
                     options: CallOptions) -> Prepared:
        """As :meth:`prepare`, with the arguments typed and validated by the action's
        DDL (its validator plugins included), before anything is sent."""
        action_ddl = self.catalogue.action(agent, action)
        prepared = self.prepare(who, agent, filter_text, options)
        raw = {k: v for k, v in arguments.items() if v is not None and v != ""}
        typed = action_ddl.coerce(raw)
        prepared.action = action
        prepared.data = prepared.client.validate(action, typed)
        return prepared

    def _check_options(self, options: CallOptions) -> None:
        s = self.settings
        if options.collective is not None and \
                options.collective not in self.config.collectives:
            raise MCollectiveError(f"collective '{options.collective}' is not one of "
                                   f"{', '.join(self.config.collectives)}")
        if options.timeout is not None and not 0 < options.timeout <= s.max_timeout:
            raise MCollectiveError(f"timeout must be more than 0 and at most "
                                   f"{s.max_timeout:g} seconds")
        if options.discovery_timeout is not None and \
                not 0 < options.discovery_timeout <= s.max_discovery_timeout:
            raise MCollectiveError(f"discovery timeout must be more than 0 and at most "
                                   f"{s.max_discovery_timeout:g} seconds")
        if options.batch_sleep is not None and \
                not 0 <= options.batch_sleep <= s.max_timeout:
            raise MCollectiveError(f"batch sleep must be 0 to {s.max_timeout:g} seconds")
        if options.nodes is not None:
            if not options.nodes:
                raise MCollectiveError("an empty node list addresses nobody")
            if len(options.nodes) > s.max_replies:
                raise MCollectiveError(f"at most {s.max_replies} nodes may be listed")
            bad = [n for n in options.nodes if not IDENTITY_RE.match(str(n))]
            if bad:
                raise MCollectiveError(f"{bad[0]!r} is not a node identity")

    # --- history ------------------------------------------------------------------------

    def record(self, who: Session, kind: str, agent: str, action: str,
               arguments: dict[str, Any], prepared: Prepared, *,
               parent: int | None = None, rerun_of: int | None = None) -> int:
        return self.store.start_request(
            kind=kind, user=who.user, caller=who.caller, agent=agent, action=action,
            arguments=arguments, filter=prepared.spec.text,
            collective=prepared.client.collective, options=prepared.options.to_dict(),
            parent=parent, rerun_of=rerun_of)

    # --- operations (worker threads) -------------------------------------------------------

    def _discover(self, job: Job, client: RPCClient) -> list[str]:
        started = time.monotonic()
        job.emit("discovering", {"method": client.discovery_method,
                                 "timeout": client.effective_discovery_timeout()})
        try:
            nodes = client.discover(on_node=lambda n: job.emit("node", {"identity": n}))
        except ConnectionFailed as exc:
            self.last_error = str(exc)
            raise ConnectionFailed(f"cannot reach the middleware: {exc}") from None
        self.last_error = None
        seconds = time.monotonic() - started
        found = {"nodes": nodes, "count": len(nodes), "seconds": round(seconds, 3),
                 "method": client.discovery_method}
        trouble = client.discovery_trouble()
        if trouble:
            found["trouble"] = f"{trouble} during discovery: the list may be short"
        job.emit("discovered", found)
        return nodes

    def run_discovery(self, job: Job, prepared: Prepared) -> None:
        recorder = Recorder(self.store, job.id, self.settings.max_replies)
        status, error = "finished", None
        nodes: list[str] = []
        started = time.monotonic()
        try:
            nodes = self._discover(job, prepared.client)
            for node in nodes:
                recorder.add({"sender": node, "statuscode": 0, "statusmsg": "OK",
                              "data": None})
        except MCollectiveError as exc:
            status, error = "error", str(exc)
            raise
        finally:
            recorder.flush()
            stats = {"discovered": len(nodes), "responses": len(nodes),
                     "okcount": len(nodes), "failcount": 0,
                     "discoverytime": round(time.monotonic() - started, 3)}
            self.store.finish_request(job.id, status=status, error=error, stats=stats,
                                      replies_dropped=recorder.dropped)
        job.emit("done", {"count": len(nodes), "status": status})

    def run_rpc(self, job: Job, prepared: Prepared) -> None:
        from mcollective.aggregate import ActionSummaries

        client, action = prepared.client, prepared.action
        assert action is not None
        summaries = ActionSummaries(client.action_ddl(action), self.plugins)
        recorder = Recorder(self.store, job.id, self.settings.max_replies)
        status, error = "finished", None
        last_summary, changed = time.monotonic(), False
        try:
            nodes = self._discover(job, client)
            # The count --limit-nodes leaves (which ones, a random limit decides when
            # sending; the call below applies it once).
            expected = len(client.targets(nodes)) if nodes else 0
            job.emit("sending", {"expected": expected, "agent": client.agent,
                                 "action": action})
            if not expected:
                job.emit("done", {"status": "finished", "stats": client.stats.to_dict(),
                                  "message": "no request sent: no node matched"})
                return
            request_id = ""
            for result in client.stream(action, prepared.data):
                if not request_id and client.stats.requestid:
                    request_id = client.stats.requestid
                    self.store.set_request_id(job.id, request_id)
                    job.emit("request", {"requestid": request_id})
                reply = result_dict(result)
                recorder.add(reply)
                job.emit_result(reply)
                summaries.process(result)
                changed = True
                if summaries and time.monotonic() - last_summary > SUMMARY_INTERVAL:
                    job.emit("summaries", summaries.report().to_dict())
                    last_summary, changed = time.monotonic(), False
        except ConnectionFailed as exc:
            status = "error"
            error = str(exc) if str(exc).startswith("cannot reach") else \
                f"cannot reach the middleware: {exc}"
            self.last_error = str(exc)
            raise ConnectionFailed(error) from None
        except MCollectiveError as exc:
            status, error = "error", str(exc)
            raise
        finally:
            recorder.flush()
            report = summaries.report()
            # Discovery ran before stream(), which found it cached: report its real
            # time, as mco rpc does.
            found = job.last("discovered")
            if found and client.stats.discoverytime < found["seconds"]:
                client.stats.totaltime += found["seconds"] - client.stats.discoverytime
                client.stats.discoverytime = found["seconds"]
            stats = client.stats.to_dict()
            stats["exit_code"] = client.stats.exit_code()
            self.store.finish_request(
                job.id, status=status, error=error, stats=stats,
                summaries=report.to_dict() if summaries else None,
                replies_dropped=max(recorder.dropped, job.dropped))
        if client.stats.requestid:
            self.store.set_request_id(job.id, client.stats.requestid)
        if summaries and (changed or job.last("summaries") is None):
            job.emit("summaries", report.to_dict())
        job.emit("done", {
            "status": status, "stats": stats, "gap": client.stats.gap_report(),
            "noresponsefrom": client.stats.noresponsefrom,
            "unexpected": sorted(set(client.stats.unexpectedresponsefrom)),
            "dropped": job.dropped,
        })

    def run_fleet(self, job: Job, prepared: Prepared, who: Session) -> None:
        """Inventory of every matching node (facts, classes, agents, collectives), then
        the versions of their agents (a second request, recorded as a child)."""
        client = prepared.client
        recorder = Recorder(self.store, job.id, self.settings.max_replies)
        status, error = "finished", None
        responders: list[str] = []
        try:
            self._discover(job, client)
            for result in client.stream("inventory"):
                reply = result_dict(result)
                recorder.add(reply)
                job.emit_result(reply)
                if result.ok:
                    responders.append(result.sender)
        except MCollectiveError as exc:
            status, error = "error", str(exc)
            raise
        finally:
            recorder.flush()
            stats = client.stats.to_dict()
            self.store.finish_request(job.id, status=status, error=error, stats=stats,
                                      replies_dropped=recorder.dropped)
        if responders:
            child = self.record(who, "fleet-agents", "rpcutil", "agent_inventory", {},
                                prepared, parent=job.id)
            job.emit("agents", {"history": child})
            self._collect(child, client, "agent_inventory", responders)
        job.emit("done", {"status": status, "stats": stats,
                          "noresponsefrom": client.stats.noresponsefrom})

    def _collect(self, row: int, client: RPCClient, action: str,
                 targets: Iterable[str] | None) -> list[Result]:
        """One request recorded under ``row``; its results."""
        recorder = Recorder(self.store, row, self.settings.max_replies)
        results: list[Result] = []
        status, error = "finished", None
        try:
            for result in client.stream(action, targets=targets):
                recorder.add(result_dict(result))
                results.append(result)
        except MCollectiveError as exc:
            status, error = "error", str(exc)
            raise
        finally:
            recorder.flush()
            stats = client.stats.to_dict()
            self.store.finish_request(row, status=status, error=error, stats=stats)
            if client.stats.requestid:
                self.store.set_request_id(row, client.stats.requestid)
        return results

    def node_info(self, who: Session, identity: str) -> dict[str, Any]:
        """One node's inventory, agents with versions and daemon statistics (three
        direct requests, each recorded)."""
        if not IDENTITY_RE.match(identity):
            raise MCollectiveError(f"{identity!r} is not a node identity")
        options = CallOptions(timeout=self.settings.node_timeout)
        prepared = self.prepare(who, "rpcutil", f"-I {identity}", options)
        out: dict[str, Any] = {"identity": identity}
        for action in ("inventory", "agent_inventory", "daemon_stats"):
            row = self.record(who, "node", "rpcutil", action, {}, prepared)
            try:
                results = self._collect(row, prepared.client, action, [identity])
            except ConnectionFailed as exc:
                self.last_error = str(exc)
                raise MCollectiveError(f"cannot reach the middleware: {exc}") from None
            mine = [r for r in results if r.sender == identity]
            if not mine:
                out[action] = None
                out.setdefault("silent", []).append(action)
                if action == "inventory":
                    break  # a node that does not answer will not answer the others
                continue
            result = mine[0]
            out[action] = result.data if result.ok else {"error": result.statusmsg}
        return out
