"""The Python client API: filters, discovery, calls, results as they arrive, stats.

::

    from mcollective.client import RPCClient

    with RPCClient("rpcutil", limit="50%", limit_seed=7, batch_size=2) as client:
        client.fact_filter("country=uk")
        for result in client.stream("get_fact", {"fact": "os.family"}):
            print(result.sender, result.data["value"])
        print(client.stats.noresponsefrom)

Every command-line option of ``mco rpc`` has a constructor argument and an attribute
here (``limit``/``limit_targets``, ``limit_seed``, ``limit_method``, ``batch_size``,
``batch_sleep_time``, ``reply_to``, ``discovery_method``, ``discovery_options``,
``discovery_timeout``, ``discovery_window``...). The rules are in ``docs/discovery.md``.

Addressing follows MCollective (reference §3.5): after discovery a request goes *direct*
(one message per node) when few nodes were found (``direct_addressing_threshold``), when
the discovery method is not a broadcast, when the filter names only literal identities
(then discovery is skipped), when the targets were limited, batched or given
explicitly; otherwise one broadcast carries the filter. Direct requests carry the filter
too, so a node re-checks it rather than silently dropping filters the way the original
did; only the identity tests are left out, because the addressing itself is one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from mcollective import phases
from mcollective.client.results import Result, RPCStats
from mcollective.client.session import ClientSession
from mcollective.client.targets import LIMIT_METHODS, batches, limit_nodes, parse_size
from mcollective.config import load_config
from mcollective.discovery import DiscoveryRequest
from mcollective.errors import ConnectionFailed, MCollectiveError

if TYPE_CHECKING:
    from mcollective.client.discovery_cache import CacheHit
    from mcollective.client.replies import ReplyQueue
    from mcollective.client.session import LinkMark
    from mcollective.config import Config
    from mcollective.ddl import ActionDDL, AgentDDL
    from mcollective.discovery import DiscoveryMethod
    from mcollective.filters import Expr, Filter
    from mcollective.plugins import PluginManager

log = logging.getLogger(__name__)

DEFAULT_AGENT_TIMEOUT = 10.0
#: Waited beyond an action's DDL timeout (seconds, plus a tenth of the timeout): a
#: node's watchdog answers "timed out after N seconds" once the action has run that
#: long, counted from when a worker took the request, so its reply arrives a little
#: after the timeout itself. Without the margin the client gave up first and users
#: saw "no response" instead of the reason.
TIMEOUT_REPLY_MARGIN = 2.0
_UNSET: Any = object()
#: The pause between batches (a name of its own so tests can replace it).
_sleep = time.sleep


class RPCClient:
    """Call one agent's actions on every node a filter selects."""

    def __init__(
        self, agent: str, *, config: Config | None = None,
        session: ClientSession | None = None, plugins: PluginManager | None = None,
        collective: str | None = None, timeout: float | None = None,
        discovery_timeout: float | None = None, discovery_method: str | None = None,
        discovery_options: Iterable[str] = (), ttl: int | None = None,
        discovery_window: float | None = None, limit: int | str | None = None,
        limit_seed: int | None = None, limit_method: str | None = None,
        batch_size: int | str | None = None, batch_sleep_time: float | None = None,
        reply_to: str | None = None, stdin: TextIO | str | None = None,
    ) -> None:
        self.agent = agent
        if session is not None:
            self.session, self._own_session = session, False
        else:
            cfg = config or load_config(role="client")
            self.session, self._own_session = ClientSession(cfg, plugins=plugins), True
        self.config = self.session.config
        self.plugins = self.session.plugins
        self.collective = collective or self.config.main_collective
        self.timeout = timeout
        self.discovery_timeout = discovery_timeout
        self.discovery_window = discovery_window
        self._requested_method = discovery_method or self.config.default_discovery_method
        self._discovery_options = list(discovery_options) or list(
            self.config.default_discovery_options)
        self.ttl = ttl
        #: Where the ``stdin`` discovery method reads (a stream, or text already read).
        self.stdin = stdin
        #: Send replies here instead of to this client, and do not wait for them.
        self.reply_to = reply_to
        self.limit_targets = limit
        self.limit_seed = limit_seed
        self.limit_method = limit_method
        self.batch_size = batch_size if batch_size is not None else \
            (self.config.default_batch_size or None)
        self.batch_sleep_time = batch_sleep_time if batch_sleep_time is not None else \
            self.config.default_batch_sleep_time
        self.stats = RPCStats()
        self._facts: list[str] = []
        self._classes: list[str] = []
        self._identities: list[str] = []
        self._agents: list[str] = []
        self._compound: list[Expr] = []
        self._with: list[str] = []
        self._data_timeout = 0.0
        self._filter: Filter | None = None
        self._discovered: list[str] | None = None
        self._supplied = False
        #: Set by :meth:`discover` when no discovery ran (nodes supplied, or a filter of
        #: literal identities addressed directly), so callers do not claim one did.
        self.discovery_skipped = False
        self._ddl: AgentDDL | bool | None = False
        self._method: DiscoveryMethod | None = None
        self._method_name: str | None = None
        self._validators: Any = None
        #: The connection counters when the discovery of the next call began.
        self._link_mark: LinkMark | None = None
        #: Whether :meth:`discover` may answer from the discovery cache (``mco rpc``
        #: and ``mco ping`` switch it on; see mcollective.client.discovery_cache).
        self.use_discovery_cache = False
        #: Age in seconds of the cached node list the last :meth:`discover` returned
        #: (None: it discovered, or was given the nodes).
        self.cache_age: float | None = None
        #: Nodes the cache entry lost lately: waited for as a discovery would.
        self._cache_lost: list[str] = []

    # --- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> RPCClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- settings with validation -----------------------------------------------------

    @property
    def limit_targets(self) -> int | str | None:
        """``--limit-nodes``: ``N`` or ``"N%"`` of the discovered nodes; ``None`` for all."""
        return self._limit

    @limit_targets.setter
    def limit_targets(self, value: int | str | None) -> None:
        self._limit = parse_size(value, "limit")

    @property
    def limit_method(self) -> str:
        """``first`` (discovery order) or ``random``. Unless set here or by
        ``rpclimitmethod`` in a config file, a ``limit_seed`` implies ``random`` (a seed
        means nothing to ``first``); otherwise ``first``."""
        if self._limit_method is not None:
            return self._limit_method
        if self.config.source("rpclimitmethod") is not None:
            return str(self.config.rpclimitmethod)
        return "random" if self.limit_seed is not None else str(self.config.rpclimitmethod)

    @limit_method.setter
    def limit_method(self, value: str | None) -> None:
        if value is not None and value not in LIMIT_METHODS:
            raise MCollectiveError(f"limit method must be first or random, got {value!r}")
        self._limit_method = value

    @property
    def batch_size(self) -> int | str | None:
        """``--batch``: send to ``N`` (or ``"N%"``) nodes at a time; ``None`` for all."""
        return self._batch

    @batch_size.setter
    def batch_size(self, value: int | str | None) -> None:
        self._batch = parse_size(value, "batch size")

    @property
    def batch_sleep_time(self) -> float:
        """Seconds to sleep between batches (not after the last)."""
        return self._batch_sleep

    @batch_sleep_time.setter
    def batch_sleep_time(self, value: float) -> None:
        if value is None or float(value) < 0:
            raise MCollectiveError(f"batch sleep time must be 0 or more, got {value!r}")
        self._batch_sleep = float(value)

    @property
    def discovery_method(self) -> str:
        """The method in use: as requested, or ``mc`` when ``-S`` forced it."""
        return self._method_name or self._requested_method

    @discovery_method.setter
    def discovery_method(self, name: str) -> None:
        self._requested_method = name
        self._method = self._method_name = None
        self._changed()

    @property
    def discovery_options(self) -> list[str]:
        """``--do`` values for the discovery method (a copy; assign to change)."""
        return list(self._discovery_options)

    @discovery_options.setter
    def discovery_options(self, options: Iterable[str]) -> None:
        self._discovery_options = list(options)
        self.reset()

    # --- DDL ------------------------------------------------------------------------

    @property
    def ddl(self) -> AgentDDL | None:
        """The agent's DDL from the locally installed agent plugin, if any."""
        if self._ddl is False:
            self._ddl = load_client_ddl(self.plugins, self.config, self.agent)
        ddl = self._ddl
        return None if ddl is None or isinstance(ddl, bool) else ddl

    def action_ddl(self, action: str) -> ActionDDL | None:
        ddl = self.ddl
        return ddl.action(action) if ddl is not None else None

    def validate(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``args`` against the DDL and fill defaults, before anything is sent."""
        action_ddl = self.action_ddl(action)
        if action_ddl is None:
            return dict(args)
        if self._validators is None:
            from mcollective.validators import plugin_resolver

            self._validators = plugin_resolver(self.plugins)
        return action_ddl.validate(args, validators=self._validators)

    # --- filters --------------------------------------------------------------------

    def fact_filter(self, fact: str, value: str | None = None, operator: str = "==") -> None:
        """``fact_filter("country=uk")`` or ``fact_filter("country", "uk")``."""
        from mcollective.filters import parse_fact_filter

        text = fact if value is None else f"{fact}{operator}{value}"
        parse_fact_filter(text)
        self._facts.append(text)
        self._changed()

    def class_filter(self, klass: str) -> None:
        self._check_entry("class", klass)
        self._classes.append(klass)
        self._changed()

    def identity_filter(self, identity: str) -> None:
        self._check_entry("identity", identity)
        self._identities.append(identity)
        self._changed()

    def agent_filter(self, agent: str) -> None:
        self._check_entry("agent", agent)
        self._agents.append(agent)
        self._changed()

    def compound_filter(self, expression: str | Expr) -> None:
        """``-S``: parsed, and its data-plugin functions checked against the local data
        plugin DDLs, now — a mistake is reported before anything is sent."""
        from mcollective.data import check_data_functions
        from mcollective.filters import parse_compound

        expr = parse_compound(expression) if isinstance(expression, str) else expression
        self._data_timeout = check_data_functions([*self._compound, expr], self.plugins)
        self._compound.append(expr)
        self._changed()

    def with_filter(self, words: str) -> None:
        """``-W``: each word a fact filter if it parses as one, else a class."""
        from mcollective.filters import Filter

        Filter.build(with_=[words])
        self._with.append(words)
        self._changed()

    def reset_filter(self) -> None:
        """Back to no filter (only this client's agent)."""
        self._facts, self._classes, self._identities = [], [], []
        self._agents, self._compound, self._with = [], [], []
        self._data_timeout = 0.0
        self._changed()

    def reset(self) -> None:
        """Forget discovery results (the next call discovers again)."""
        self._discovered = None
        self._supplied = False
        self.cache_age = None
        self._cache_lost = []
        self.discovery_skipped = False

    def _changed(self) -> None:
        self._filter = None
        self._method = self._method_name = None  # -S may force another method
        self.reset()

    @staticmethod
    def _check_entry(kind: str, entry: str) -> None:
        from mcollective.filters._values import name_entry

        name_entry(kind, entry)

    @property
    def filter(self) -> Filter:
        """The effective filter: what was set plus this client's own agent."""
        if self._filter is None:
            from mcollective.filters import Filter

            agents = list(self._agents)
            if self.agent not in agents:
                agents.append(self.agent)
            self._filter = Filter.build(
                facts=self._facts, classes=self._classes, agents=agents,
                identities=self._identities, compound=self._compound, with_=self._with)
        return self._filter

    def literal_identities(self) -> list[str] | None:
        """The identities when the filter names nothing but literal identities (so
        discovery can be skipped), else ``None``. Agent filters other than this
        client's own agent need discovery."""
        if any(a not in (self.agent, "mcollective") for a in self._agents):
            return None
        found = self.filter.literal_identities(ignore_agents=True)
        return list(found) if found is not None else None

    # --- discovery --------------------------------------------------------------------

    @property
    def method(self) -> DiscoveryMethod:
        """The discovery method plugin. Compound (``-S``) filters need a method that
        can evaluate them; when the chosen one cannot, ``mc`` is used, as in
        MCollective (with a warning)."""
        if self._method is None:
            name = self._requested_method
            method = self.plugins.create_discovery(name, self.config)
            if self._compound and "compound" not in method.capabilities:
                log.warning("-S compound filters cannot be evaluated by the %s discovery "
                            "method; using mc", name)
                name, method = "mc", self.plugins.create_discovery("mc", self.config)
            self._method, self._method_name = method, name
        return self._method

    def effective_discovery_timeout(self) -> float:
        """``--dt``, else ``discovery_timeout`` from the config, else the method's own;
        broadcasts with ``-S`` data functions get those plugins' timeouts on top.
        0 for methods that read a list."""
        if not self.method.uses_timeout:
            return 0.0
        if self.discovery_timeout is not None:
            base = self.discovery_timeout
        elif self.config.discovery_timeout is not None:
            base = self.config.discovery_timeout
        else:
            base = self.method.default_timeout
        return base + (self._data_timeout if self.method.broadcast else 0.0)

    def effective_discovery_window(self) -> float:
        """How long after the last discovery reply a broadcast discovery ends."""
        if self.discovery_window is not None:
            return self.discovery_window
        return float(self.config.discovery_window)

    def discover(self, *, nodes: Iterable[str] | None = None,
                 on_node: Callable[[str], None] | None = None) -> list[str]:
        """Identities of the matching nodes (cached until the filter changes).

        ``nodes`` supplies the list directly: discovery is skipped and requests go to
        exactly those nodes, directly. ``on_node`` is called with each identity as a
        broadcast discovery finds it (list methods return them all at once).
        """
        if nodes is not None:
            self._discovered = list(dict.fromkeys(nodes))
            self._supplied = True
            self.discovery_skipped = True
            return list(self._discovered)
        if self._discovered is not None:
            return list(self._discovered)
        method = self.method
        flt = self.filter
        method.check_filter(flt, own_agent=self.agent, method=self.discovery_method)
        literal = self.literal_identities() if method.broadcast else None
        if literal is not None:
            self._discovered = literal
            self.discovery_skipped = True
            return list(literal)
        if self._limit is None and self._batch is None:
            hit = self.cached_discovery()
            if hit is not None:
                self._discovered, self.cache_age, self._cache_lost = hit
                return list(self._discovered)
        self._link_mark = self.session.link_mark()  # a loss now leaves nodes out
        request = DiscoveryRequest(
            session=self.session, filter=flt, collective=self.collective,
            timeout=self.effective_discovery_timeout(),
            window=self.effective_discovery_window(), limit=self._discovery_limit(),
            options=list(self.discovery_options), config=self.config,
            own_agent=self.agent, stdin=self.stdin, on_node=on_node,
        )
        self._discovered = list(dict.fromkeys(method.discover(request)))
        if request.limit is None and self.discovery_trouble() is None:
            self.remember_discovery(self._discovered)  # a complete answer only
        return list(self._discovered)

    def cached_discovery(self) -> CacheHit | None:
        """The discovery cache's entry for this client's filter, collective and
        method, when it may be used and is fresh; else None."""
        cache = self._discovery_cache()
        return cache.lookup(self._discovery_key()) if cache is not None else None

    def remember_discovery(self, nodes: Iterable[str]) -> None:
        """Store ``nodes`` as the answer to this client's discovery (when the
        cache is in use)."""
        cache = self._discovery_cache()
        if cache is not None:
            cache.store(self._discovery_key(), nodes)

    def _discovery_key(self) -> str:
        from mcollective.client.discovery_cache import cache_key

        return cache_key(collective=self.collective, method=self.discovery_method,
                         flt=self.filter.to_dict(), options=self.discovery_options)

    def _discovery_cache(self) -> Any:
        """The discovery cache when this client may use it: switched on, a broadcast
        method, no ``--dt`` (asking for a discovery of that length means discovering),
        and ``discovery_cache_ttl`` above 0."""
        if not self.use_discovery_cache or not self.method.broadcast \
                or self.discovery_timeout is not None:
            return None
        ttl = float(getattr(self.config, "discovery_cache_ttl", 0) or 0)
        if ttl <= 0:
            return None
        from mcollective.client.discovery_cache import DiscoveryCache

        return DiscoveryCache(self.config.statedir, ttl)

    def discovery_trouble(self) -> str | None:
        """What happened to the middleware connection since the last discovery began
        (``None``: nothing): a node list found while the broker failed may be short."""
        if self._link_mark is None:
            return None
        return self.session.link_trouble(self._link_mark)

    def _discovery_limit(self) -> int | None:
        """A broadcast discovery may stop early: at N replies for ``--limit-nodes N``
        with the ``first`` method (a percentage needs the total, so it cannot)."""
        if isinstance(self._limit, int) and self.limit_method == "first":
            return self._limit
        return None

    def targets(self, nodes: list[str] | None = None) -> list[str]:
        """The nodes a call goes to: the discovered ones (or ``nodes``), limited by
        ``limit_targets``."""
        found = self.discover() if nodes is None else nodes
        if self._limit is None:
            return list(found)
        return limit_nodes(found, self._limit, method=self.limit_method,
                           seed=self.limit_seed)

    # --- calls --------------------------------------------------------------------------

    def call(self, action: str, args: Mapping[str, Any] | None = None,
             **kwargs: Any) -> list[Result]:
        """Run ``action`` on every matching node and return all results (``[]`` with
        ``reply_to``: the replies go elsewhere)."""
        return list(self.stream(action, {**(args or {}), **kwargs}))

    def call_async(self, action: str, args: Mapping[str, Any] | None = None,
                   **kwargs: Any) -> str:
        """Fire and forget (``--nr``): nodes act but do not reply; returns the request
        id. With a broadcast method and no limit, no discovery is needed either."""
        for _ in self.stream(action, {**(args or {}), **kwargs}, process_results=False):
            pass
        return self.stats.requestid

    def stream(self, action: str, args: Mapping[str, Any] | None = None, *,
               process_results: bool = True, targets: Iterable[str] | None = None,
               batch_size: int | str | None = _UNSET,
               batch_sleep_time: float | None = None,
               on_publish: Callable[[], None] | None = None) -> Iterator[Result]:
        """Run ``action`` and yield results as replies arrive; ``self.stats`` holds the
        counters once the iterator is exhausted.

        ``targets`` bypasses discovery (direct requests to exactly those nodes);
        ``batch_size``/``batch_sleep_time`` override the client's for this call.
        ``on_publish`` is called once the (first batch's) request is published, before
        the wait for replies: what the caller can do then costs the nodes nothing.
        """
        stats = self.stats = RPCStats()
        # Since this call's discovery if it ran before (mco rpc discovers first).
        mark = self._link_mark if self._link_mark is not None else self.session.link_mark()
        self._link_mark = None
        data = self.validate(action, args or {})
        batch = self._batch if batch_size is _UNSET else parse_size(batch_size, "batch size")
        sleep = self._batch_sleep if batch_sleep_time is None else float(batch_sleep_time)
        waits = process_results and self.reply_to is None
        if batch is not None:
            if not waits:
                raise MCollectiveError("batching waits for each batch's replies; it cannot "
                                       "be combined with --nr or --reply-to")
            if not self.config.direct_addressing:
                raise MCollectiveError("batching needs direct addressing, which is "
                                       "switched off (direct_addressing = 0)")
        started = time.monotonic()
        explicit = targets is not None or self._supplied
        nodes: list[str] | None
        if not waits and not explicit and self._broadcast_without_discovery():
            nodes = None  # fire and forget: the nodes apply the filter themselves
            stats.discovery_method = ""
        else:
            found = list(dict.fromkeys(targets)) if targets is not None else self.discover()
            stats.discovery_method = "supplied" if explicit else self.discovery_method
            stats.discoverytime = time.monotonic() - started
            nodes = self.targets(found)
            stats.discovered_nodes = nodes
            stats.discovery_performed = True
            if not nodes:
                stats.totaltime = time.monotonic() - started
                trouble = self.session.link_trouble(mark)
                stats.connection_error = f"{trouble} during discovery" if trouble else ""
                return
        # Expected from the discovery cache: the request itself is the broadcast (with
        # the filter), so that nodes new since then answer too (one round, no
        # discovery window; docs/discovery.md).
        one_round = (self.cache_age is not None and nodes is not None and not explicit
                     and batch is None and self._limit is None and waits)
        direct = nodes is not None and not one_round and self._direct(
            nodes, explicit=explicit, batched=batch is not None)
        session = self.session
        session.connect()
        request = session.new_request(
            self.agent, action, data, filter=self._request_filter(nodes, direct),
            collective=self.collective, ttl=self.ttl, process_results=process_results,
            reply_to=self.reply_to)
        stats.requestid = request.id
        if not waits:
            stats.publishtime = session.publish(request, targets=nodes if direct else None)
            stats.totaltime = time.monotonic() - started
            return
        assert nodes is not None
        replies = session.expect(request.id)
        began = time.monotonic()
        try:
            for index, group in enumerate(batches(nodes, batch)):
                if index:
                    _sleep(sleep)
                    # Same id for every batch; a fresh time so late batches are inside
                    # the nodes' TTL window however long the sleeps were.
                    request = dataclasses.replace(request, time=round(time.time(), 3))
                stats.batches += 1
                try:
                    stats.publishtime += session.publish(
                        request, targets=group if direct else None)
                except ConnectionFailed as exc:
                    # Discovery, and maybe earlier batches, went through: keep their
                    # results, and report the rest as not answering (gap_report()).
                    stats.connection_error = str(exc)
                    break
                phases.mark("rpc_publish")
                if index == 0 and on_publish is not None:
                    on_publish()
                yield from self._collect(replies, action, set(group), stats,
                                         newcomers=one_round,
                                         maybe=self._cache_lost if one_round else ())
            if one_round and not stats.connection_error:
                # Who answers now is whom to expect next time.
                self.remember_discovery(stats.responded)
        finally:
            phases.mark("rpc_end")
            session.forget(request.id)
            stats.blocktime = time.monotonic() - began
            stats.totaltime = time.monotonic() - started
            if not stats.connection_error:
                trouble = session.link_trouble(mark)
                stats.connection_error = f"{trouble} during the request" if trouble else ""

    def _broadcast_without_discovery(self) -> bool:
        return (self.method.broadcast and self._limit is None
                and self.literal_identities() is None)

    def _direct(self, nodes: list[str], *, explicit: bool, batched: bool) -> bool:
        """Whether to send one message per node (reference §3.5)."""
        config = self.config
        must = explicit or batched or not self.method.broadcast
        if not config.direct_addressing:
            if must:
                raise MCollectiveError(
                    f"sending to {'the given nodes' if explicit else 'these nodes'} with "
                    f"the {self.discovery_method} discovery method needs direct "
                    "addressing, which is switched off (direct_addressing = 0)")
            return False
        return (must or len(nodes) <= config.direct_addressing_threshold
                or self._limit is not None or self.literal_identities() is not None)

    def _request_filter(self, nodes: list[str] | None, direct: bool) -> dict[str, Any]:
        """The filter the request carries. Direct: without identity tests (the
        addressing is one; ``group:`` names and long lists would not survive it).
        A limited broadcast: identities replaced by the chosen nodes."""
        from mcollective.filters import Filter

        flt = self.filter
        if direct or (nodes is not None and self._limit is not None):
            flt = Filter(facts=flt.facts, classes=flt.classes, agents=flt.agents,
                         identities=() if direct else nodes or (), compound=flt.compound)
        return flt.to_dict()

    def call_timeout(self, action: str) -> float:
        """How long to wait for replies: ``timeout``, else the agent's DDL timeout plus
        :data:`TIMEOUT_REPLY_MARGIN` (so a node's "timed out" reply is still received);
        plus the timeouts of data plugins that ``-S`` makes every node run first."""
        if self.timeout is not None:
            return self.timeout
        ddl = self.ddl
        base = float(ddl.metadata.timeout) if ddl is not None else DEFAULT_AGENT_TIMEOUT
        return base + TIMEOUT_REPLY_MARGIN + base / 10 + self._data_timeout

    def _collect(self, replies: ReplyQueue, action: str, expected: set[str],
                 stats: RPCStats, *, newcomers: bool = False,
                 maybe: Iterable[str] = ()) -> Iterator[Result]:
        """Replies of one batch, until every expected node answered or time ran out.

        ``newcomers``: the request was broadcast to whoever matches its filter, the
        expected nodes coming from the discovery cache; once all of them answered,
        replies are still taken for a short grace (:func:`mcollective.discovery.grace`)
        and nodes not expected become discovered ones. A node not expected means the
        cached list was short: the wait then ends as a discovery's would, an idle
        window after the last reply, so that one short list does not stay short.
        ``maybe``: nodes the cache lost lately (not in ``expected``); until they all
        answered the wait ends at that idle window too, and those that answer are
        discovered ones."""
        from mcollective.discovery import grace

        started = time.monotonic()
        deadline = timeout_at = started + self.call_timeout(action)
        surprised = graced = False
        last: float | None = None
        widest = 0.0
        waiting = set(expected)
        maybe = set(maybe) - expected
        seen = stats.seen
        action_ddl = self.action_ddl(action)
        window = self.effective_discovery_window()
        while waiting or newcomers:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch = replies.take(left)
            if not batch:
                break
            for reply, arrived in batch:
                if reply.sender in seen:
                    log.debug("duplicate reply from %s ignored", reply.sender)
                    continue
                seen.add(reply.sender)
                waiting.discard(reply.sender)
                if last is not None:
                    widest = max(widest, arrived - last)
                last = arrived
                if newcomers and reply.sender not in expected:
                    stats.discovered_nodes.append(reply.sender)
                    expected.add(reply.sender)
                    if reply.sender in maybe:
                        maybe.discard(reply.sender)
                    else:
                        surprised = True
                if newcomers and not waiting:
                    if surprised or maybe:
                        # The cached list was short (a node joined, or the discovery
                        # that wrote it cut a slow one off): wait as a discovery
                        # would, an idle window after the last reply.
                        deadline = min(timeout_at, arrived + max(window, 2 * widest))
                    elif not graced:
                        # Every expected node answered: newcomers have a short grace.
                        graced = True
                        deadline = min(timeout_at, arrived + grace(arrived - started,
                                                                   window))
                phases.mark("rpc_reply")
                data = reply.data
                if (action_ddl is not None and isinstance(data, dict)
                        and reply.statuscode == 0):
                    data = action_ddl.merge_output_defaults(data)
                result = Result(reply.sender, reply.statuscode, reply.statusmsg, data,
                                reply.agent, action, reply.time)
                stats.record(result)
                yield result
                if not waiting and not newcomers:  # the rest of the batch stays unread
                    break


def load_client_ddl(plugins: PluginManager, config: Config, agent: str) -> AgentDDL | None:
    """An agent's DDL on a client: from the installed agent plugin of that name, or, for
    an agent hosted by another plugin (external agents), from whichever provides it.

    When the plugin's package holds ``<agent>.json`` it is read without importing the
    agent's code (which a client never runs, and which costs start-up time)."""
    ddl = _ddl_beside_entry_point(agent)
    if ddl is not None:
        return ddl
    names = [agent] if agent in plugins.known_names("agent") else None
    try:
        classes = plugins.agent_classes(config, names=names)
    except MCollectiveError:
        return None
    cls = classes.get(agent)
    if cls is None:
        return None
    return cls.load_ddl()


def _ddl_beside_entry_point(agent: str) -> AgentDDL | None:
    """The DDL file ``<agent>.json`` in the package of the ``agent`` entry point's
    module, found without importing that module; None when there is none (the agent
    plugin then decides, see :meth:`mcollective.agent.Agent.load_ddl`) or when it does
    not describe that agent."""
    import importlib.util
    import json
    import os

    from mcollective.errors import DDLError
    from mcollective.plugins import entry_points

    for ep in entry_points("mcollective.agents"):
        if ep.name != agent:
            continue
        module = ep.module
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        if spec is None or spec.origin is None:
            return None
        directory = (spec.submodule_search_locations[0] if spec.submodule_search_locations
                     else os.path.dirname(spec.origin))
        path = os.path.join(directory, f"{agent}.json")
        try:
            with open(path, encoding="utf-8") as handle:
                obj = json.load(handle)
        except (OSError, ValueError):
            return None
        from mcollective.ddl import AgentDDL

        try:
            # Patterns are compiled when an action's inputs are validated: the daemon
            # and `mco plugin doc` check this same file whole.
            ddl = AgentDDL.from_dict(obj, source=path, check_patterns=False)
        except DDLError:
            return None  # the plugin's own loading reports it properly
        return ddl if ddl.name == agent else None
    return None

