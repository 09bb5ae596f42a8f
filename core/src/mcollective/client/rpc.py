"""The Python client API: filters, discovery, calls, results as they arrive, stats.

::

    from mcollective.client import RPCClient

    with RPCClient("rpcutil") as client:
        client.fact_filter("country=uk")
        for result in client.stream("get_fact", {"fact": "os.family"}):
            print(result.sender, result.data["value"])
        print(client.stats.noresponsefrom)

Addressing follows MCollective (reference §3.5): after discovery a request goes *direct*
(one message per node) when few nodes were found (``direct_addressing_threshold``), when
the discovery method is not a broadcast, or when the filter names only literal
identities (then discovery is skipped); otherwise one broadcast carries the filter. Direct
requests still carry the full filter, so a node re-checks it rather than silently
dropping filters the way the original did.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mcollective.client.results import Result, RPCStats
from mcollective.client.session import ClientSession
from mcollective.config import load_config
from mcollective.discovery import DiscoveryRequest
from mcollective.errors import MCollectiveError

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective.ddl import ActionDDL, AgentDDL
    from mcollective.discovery import DiscoveryMethod
    from mcollective.filters import Filter
    from mcollective.plugins import PluginManager

log = logging.getLogger(__name__)

DEFAULT_AGENT_TIMEOUT = 10.0


class RPCClient:
    """Call one agent's actions on every node a filter selects."""

    def __init__(
        self, agent: str, *, config: Config | None = None,
        session: ClientSession | None = None, plugins: PluginManager | None = None,
        collective: str | None = None, timeout: float | None = None,
        discovery_timeout: float | None = None, discovery_method: str | None = None,
        discovery_options: Iterable[str] = (), ttl: int | None = None,
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
        self.discovery_method = discovery_method or self.config.default_discovery_method
        self.discovery_options = list(discovery_options) or list(
            self.config.default_discovery_options)
        self.ttl = ttl
        self.stats = RPCStats()
        self._facts: list[str] = []
        self._classes: list[str] = []
        self._identities: list[str] = []
        self._agents: list[str] = []
        self._compound: list[str] = []
        self._with: list[str] = []
        self._discovered: list[str] | None = None
        self._ddl: AgentDDL | None | bool = False
        self._method: DiscoveryMethod | None = None
        self._validators: Any = None

    # --- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> RPCClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- DDL ------------------------------------------------------------------------

    @property
    def ddl(self) -> AgentDDL | None:
        """The agent's DDL from the locally installed agent plugin, if any."""
        if self._ddl is False:
            self._ddl = load_client_ddl(self.plugins, self.config, self.agent)
        return self._ddl or None

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
        text = fact if value is None else f"{fact}{operator}{value}"
        from mcollective.filters import parse_fact_filter

        parse_fact_filter(text)
        self._facts.append(text)
        self._changed()

    def class_filter(self, klass: str) -> None:
        self._classes.append(klass)
        self._changed()

    def identity_filter(self, identity: str) -> None:
        self._identities.append(identity)
        self._changed()

    def agent_filter(self, agent: str) -> None:
        self._agents.append(agent)
        self._changed()

    def compound_filter(self, expression: str) -> None:
        from mcollective.filters import parse_compound

        parse_compound(expression)
        self._compound.append(expression)
        self._changed()

    def with_filter(self, words: str) -> None:
        """``-W``: each word a fact filter if it parses as one, else a class."""
        from mcollective.filters import Filter

        Filter.build(with_=[words])
        self._with.append(words)
        self._changed()

    def reset_filter(self) -> None:
        self._facts, self._classes, self._identities = [], [], []
        self._agents, self._compound, self._with = [], [], []
        self._changed()

    def reset(self) -> None:
        """Forget discovery results (the next call discovers again)."""
        self._discovered = None

    def _changed(self) -> None:
        self._discovered = None

    @property
    def filter(self) -> Filter:
        """The effective filter: what was set plus this client's own agent."""
        from mcollective.filters import Filter

        agents = list(self._agents)
        if self.agent not in agents:
            agents.append(self.agent)
        return Filter.build(facts=self._facts, classes=self._classes, agents=agents,
                            identities=self._identities, compound=self._compound,
                            with_=self._with)

    def literal_identities(self) -> list[str] | None:
        """The identities when the filter names nothing but literal identities (so
        discovery can be skipped), else ``None``. Agent filters other than this
        client's own agent need discovery."""
        if any(a != self.agent for a in self._agents):
            return None
        found = self.filter.literal_identities(ignore_agents=True)
        return list(found) if found is not None else None

    # --- discovery --------------------------------------------------------------------

    @property
    def method(self) -> DiscoveryMethod:
        if self._method is None:
            self._method = self.plugins.create_discovery(self.discovery_method, self.config)
        return self._method

    def effective_discovery_timeout(self) -> float:
        if self.discovery_timeout is not None:
            return self.discovery_timeout
        if self.config.discovery_timeout is not None:
            return self.config.discovery_timeout
        return self.method.default_timeout

    def discover(self, *, nodes: Iterable[str] | None = None) -> list[str]:
        """Identities of the matching nodes (cached until the filter changes).

        ``nodes`` supplies the list directly and skips discovery.
        """
        if nodes is not None:
            self._discovered = list(dict.fromkeys(nodes))
            return list(self._discovered)
        if self._discovered is not None:
            return list(self._discovered)
        literal = self.literal_identities() if self.method.broadcast else None
        if literal is not None:
            self._discovered = literal
            return list(literal)
        flt = self.filter
        self.session.connect()
        request = DiscoveryRequest(
            session=self.session, filter=flt, collective=self.collective,
            timeout=self.effective_discovery_timeout(), window=self.config.discovery_window,
            options=self.discovery_options,
        )
        self._discovered = self.method.discover(request)
        return list(self._discovered)

    # --- calls --------------------------------------------------------------------------

    def call(self, action: str, args: Mapping[str, Any] | None = None,
             **kwargs: Any) -> list[Result]:
        """Run ``action`` on every matching node and return all results."""
        return list(self.stream(action, {**(args or {}), **kwargs}))

    def call_async(self, action: str, args: Mapping[str, Any] | None = None) -> str:
        """Fire and forget (``--nr``): send without waiting; returns the request id."""
        for _ in self.stream(action, args, process_results=False):
            pass
        return self.stats.requestid

    def stream(self, action: str, args: Mapping[str, Any] | None = None, *,
               process_results: bool = True,
               targets: Iterable[str] | None = None) -> Iterator[Result]:
        """Run ``action`` and yield results as replies arrive; ``self.stats`` holds the
        counters once the iterator is exhausted."""
        stats = self.stats = RPCStats()
        data = self.validate(action, args or {})
        started = time.monotonic()
        if targets is not None:
            nodes = self.discover(nodes=targets)
            stats.discovery_method = "supplied"
        else:
            nodes = self.discover()
            stats.discovery_method = self.discovery_method
        stats.discoverytime = time.monotonic() - started
        stats.discovered_nodes = nodes
        stats.discovery_performed = True
        if not nodes:
            stats.totaltime = time.monotonic() - started
            return
        direct = self.config.direct_addressing and (
            len(nodes) <= self.config.direct_addressing_threshold
            or targets is not None
            or not self.method.broadcast
            or self.literal_identities() is not None
        )
        if not direct and not self.method.broadcast:
            raise MCollectiveError(
                f"the {self.discovery_method} discovery method needs direct addressing, "
                "which is switched off (direct_addressing = 0)")
        session = self.session
        session.connect()
        request = session.new_request(
            self.agent, action, data, filter=self.filter.to_dict(),
            collective=self.collective, ttl=self.ttl, process_results=process_results)
        stats.requestid = request.id
        replies = session.expect(request.id) if process_results else None
        try:
            stats.publishtime = session.publish(request, targets=nodes if direct else None)
            if replies is None:
                return
            yield from self._collect(replies, request.id, action, set(nodes), stats)
        finally:
            session.forget(request.id)
            stats.totaltime = time.monotonic() - started

    def call_timeout(self, action: str) -> float:
        if self.timeout is not None:
            return self.timeout
        ddl = self.ddl
        return float(ddl.metadata.timeout) if ddl is not None else DEFAULT_AGENT_TIMEOUT

    def _collect(self, replies: queue.Queue[Any], request_id: str, action: str,
                 expected: set[str], stats: RPCStats) -> Iterator[Result]:
        began = time.monotonic()
        deadline = began + self.call_timeout(action)
        waiting = set(expected)
        seen: set[str] = set()
        action_ddl = self.action_ddl(action)
        try:
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    reply = replies.get(timeout=left)
                except queue.Empty:
                    break
                if reply.sender in seen:
                    log.debug("duplicate reply from %s ignored", reply.sender)
                    continue
                seen.add(reply.sender)
                waiting.discard(reply.sender)
                data = reply.data
                if action_ddl is not None and isinstance(data, dict) and reply.statuscode == 0:
                    data = action_ddl.merge_output_defaults(data)
                result = Result(reply.sender, reply.statuscode, reply.statusmsg, data,
                                reply.agent, action, reply.time)
                stats.record(result)
                yield result
        finally:
            stats.blocktime = time.monotonic() - began


def load_client_ddl(plugins: PluginManager, config: Config, agent: str) -> AgentDDL | None:
    """An agent's DDL on a client: from the installed agent plugin of that name."""
    if agent not in plugins.known_names("agent"):
        return None
    try:
        classes = plugins.agent_classes(config, names=[agent])
    except MCollectiveError:
        return None
    cls = classes.get(agent)
    if cls is None:
        return None
    return cls.load_ddl()
