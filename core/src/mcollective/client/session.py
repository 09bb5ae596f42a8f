"""One client process's connection: security, connector, reply routing.

Replies arrive on the connector's thread; each is verified and routed to the queue of
the request it answers. Replies to requests nobody waits for, and replies that fail
verification, are counted and dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from mcollective import phases
from mcollective.client.replies import ReplyQueue
from mcollective.errors import MCollectiveError, MessageError, SecurityError
from mcollective.log import untrusted
from mcollective.message import Request, empty_filter, request_bounds_error
from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.security import decode_reply, encode_request

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mcollective.config import Config
    from mcollective.connector import Connector
    from mcollective.security import SecurityProvider

log = logging.getLogger(__name__)


class LinkMark(NamedTuple):
    """The connector's connection counters at one moment (see
    :meth:`ClientSession.link_trouble`)."""

    disconnects: int = 0
    reconnects: int = 0


class ClientSession:
    """Connect lazily, publish requests, and hand replies to whoever waits for them."""

    def __init__(self, config: Config, *, plugins: PluginManager | None = None) -> None:
        self.config = config
        self.plugins = plugins or make_plugin_manager()
        self.security: SecurityProvider = self.plugins.create_security(config, "client")
        self.connector: Connector | None = None
        self.reply_to: str | None = None
        self._waiting: dict[str, ReplyQueue] = {}
        self._lock = threading.Lock()
        # Several threads may share one session (a web console's requests): only one
        # of them connects.
        self._connect_lock = threading.Lock()
        self.counters = {"replies": 0, "unverified": 0, "malformed": 0, "unexpected": 0}

    @property
    def caller(self) -> str:
        return self.security.caller_id()

    def connect(self) -> None:
        if self.connector is not None:
            return
        with self._connect_lock:
            if self.connector is not None:
                return
            phases.mark("connect")
            connector = self.plugins.create_connector(self.config)
            # Within connection_timeout (10 s unless set): a client must not hang on a
            # broker that is down. A definite refusal with no other broker to try fails
            # at once (the connector's business).
            connector.connect(timeout=self.config.connect_limit())
            try:
                self.reply_to = connector.subscribe_replies()
                connector.start(self._on_message)
            except BaseException:
                connector.close()
                raise
            self.connector = connector
            phases.mark("connected")

    def close(self) -> None:
        if self.connector is not None:
            try:
                self.connector.close()
            finally:
                self.connector = None

    def __enter__(self) -> ClientSession:
        return self

    def as_caller(self, security: SecurityProvider) -> ClientSession:
        """A session whose requests are signed by ``security`` (and so carry its caller
        id), over this session's connection, reply queue and reply verification.

        For a process acting for several users at once, such as a web console: each
        user's requests go out under that user's identity (see
        :meth:`SecurityProvider.delegate`) without a broker connection per user.
        Closing the returned session does nothing; close this one."""
        return CallerSession(self, security)

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests -------------------------------------------------------------------

    def new_request(self, agent: str, action: str, data: dict[str, Any] | None = None, *,
                    filter: dict[str, list[Any]] | None = None,
                    collective: str | None = None, ttl: int | None = None,
                    process_results: bool = True, reply_to: str | None = None) -> Request:
        collective = collective or self.config.main_collective
        if collective not in self.config.collectives:
            raise MCollectiveError(
                f"collective '{collective}' is not one of the configured collectives "
                f"({', '.join(self.config.collectives)})")
        message: dict[str, Any] = {"action": action, "data": dict(data or {})}
        if not process_results:
            message["process_results"] = False
        request = Request(
            agent=agent, collective=collective, sender=self.config.identity,
            caller=self.caller, message=message, filter=filter or empty_filter(),
            ttl=ttl or self.config.ttl, reply_to=reply_to or self.reply_to,
        )
        # Refused here rather than by the broker ("lost the connection") or, silently,
        # by every node.
        problem = request_bounds_error(request, self.config.max_ttl)
        if problem is not None:
            raise MCollectiveError(problem)
        return request

    def expect(self, request_id: str) -> ReplyQueue:
        """Register interest in replies to ``request_id``; call before publishing."""
        q = ReplyQueue()
        with self._lock:
            self._waiting[request_id] = q
        return q

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def publish(self, request: Request, *, targets: Sequence[str] | None = None) -> float:
        """Sign and publish; returns the seconds publishing took."""
        self.connect()
        assert self.connector is not None
        started = time.monotonic()
        body = encode_request(request, self.security)
        self.connector.publish_request(body, collective=request.collective,
                                       agent=request.agent, ttl=request.ttl,
                                       targets=list(targets) if targets is not None else None)
        return time.monotonic() - started

    # --- the middleware connection ----------------------------------------------------

    def link_mark(self) -> LinkMark:
        """Remember the connection counters now, to ask :meth:`link_trouble` later."""
        connector = self.connector
        if connector is None:  # connecting is not reconnecting: counters start at 0
            return LinkMark()
        stats = connector.stats
        return LinkMark(int(stats.get("disconnects", 0)), int(stats.get("reconnects", 0)))

    def link_trouble(self, since: LinkMark) -> str | None:
        """``lost the connection to <broker>`` if the middleware connection was lost
        since ``since`` (whether or not it is back), else ``None``.

        The connector reconnects by itself, so a request may survive a broker restart;
        but replies sent while the connection (and with it, on most brokers, this
        client's reply queue) was gone are lost. Nodes that did not answer may never
        have been asked, or their answer was lost: a user must learn that the broker
        failed, not just that nodes were silent. Connectors report through their
        ``stats`` counters: ``disconnects`` (connections found lost) and
        ``reconnects``; with ``reconnects`` only, a connection still down at the end
        of a request is not seen."""
        now = self.link_mark()
        if now.disconnects > since.disconnects or now.reconnects > since.reconnects:
            return f"lost the connection to {self.broker_name()}"
        return None

    def broker_name(self) -> str:
        """The middleware as the connector shows it (passwords masked)."""
        info: dict[str, Any] = {}
        if self.connector is not None:
            try:
                info = self.connector.describe()
            except Exception as exc:  # a report must not fail for want of a name
                log.debug("could not describe the connector: %s", exc)
        name = info.get("broker") or info.get("url")
        return str(name) if name else f"the {self.config.connector} middleware"

    def _on_message(self, body: bytes, _identity: str | None) -> None:
        arrived = time.monotonic()
        try:
            reply = decode_reply(body, self.security)
        except SecurityError as exc:
            self.counters["unverified"] += 1
            log.warning("dropped a reply that failed verification: %s", untrusted(exc))
            return
        except MessageError as exc:
            self.counters["malformed"] += 1
            log.warning("dropped a malformed reply: %s", untrusted(exc))
            return
        with self._lock:
            q = self._waiting.get(reply.request)
        if q is None:
            self.counters["unexpected"] += 1
            log.debug("reply from %s to request %s that nobody waits for",
                      untrusted(reply.sender), untrusted(reply.request))
            return
        self.counters["replies"] += 1
        q.put(reply, arrived)


class CallerSession(ClientSession):
    """A view of a :class:`ClientSession` that signs with another provider (see
    :meth:`ClientSession.as_caller`). Everything but signing is the parent's: the
    connection, the reply destination, who waits for which reply, the counters."""

    def __init__(self, parent: ClientSession, security: SecurityProvider) -> None:
        # No super().__init__(): nothing of a session's own state is wanted here.
        self.parent = parent
        self.config = parent.config
        self.plugins = parent.plugins
        self.security = security

    # Everything stateful is the parent's, read at each use (it connects lazily).
    connector = property(lambda self: self.parent.connector)
    reply_to = property(lambda self: self.parent.reply_to)
    counters = property(lambda self: self.parent.counters)
    _waiting = property(lambda self: self.parent._waiting)
    _lock = property(lambda self: self.parent._lock)

    def connect(self) -> None:
        self.parent.connect()

    def close(self) -> None:
        """The parent owns the connection."""
