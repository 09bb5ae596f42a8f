"""One client process's connection: security, connector, reply routing.

Replies arrive on the connector's thread; each is verified and routed to the queue of
the request it answers. Replies to requests nobody waits for, and replies that fail
verification, are counted and dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from mcollective.client.replies import ReplyQueue
from mcollective.errors import MCollectiveError, MessageError, SecurityError
from mcollective.message import Request, empty_filter
from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.security import decode_reply, encode_request

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mcollective.config import Config
    from mcollective.connector import Connector
    from mcollective.security import SecurityProvider

log = logging.getLogger(__name__)

DEFAULT_CONNECTION_TIMEOUT = 10.0


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
        self.counters = {"replies": 0, "unverified": 0, "malformed": 0, "unexpected": 0}

    @property
    def caller(self) -> str:
        return self.security.caller_id()

    def connect(self) -> None:
        if self.connector is not None:
            return
        connector = self.plugins.create_connector(self.config)
        timeout = self.config.connection_timeout or DEFAULT_CONNECTION_TIMEOUT
        connector.connect(timeout=timeout)
        try:
            self.reply_to = connector.subscribe_replies()
            connector.start(self._on_message)
        except BaseException:
            connector.close()
            raise
        self.connector = connector

    def close(self) -> None:
        if self.connector is not None:
            try:
                self.connector.close()
            finally:
                self.connector = None

    def __enter__(self) -> ClientSession:
        return self

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
        return Request(
            agent=agent, collective=collective, sender=self.config.identity,
            caller=self.caller, message=message, filter=filter or empty_filter(),
            ttl=ttl or self.config.ttl, reply_to=reply_to or self.reply_to,
        )

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

    def _on_message(self, body: bytes, _identity: str | None) -> None:
        arrived = time.monotonic()
        try:
            reply = decode_reply(body, self.security)
        except SecurityError as exc:
            self.counters["unverified"] += 1
            log.warning("dropped a reply that failed verification: %s", exc)
            return
        except MessageError as exc:
            self.counters["malformed"] += 1
            log.warning("dropped a malformed reply: %s", exc)
            return
        with self._lock:
            q = self._waiting.get(reply.request)
        if q is None:
            self.counters["unexpected"] += 1
            log.debug("reply from %s to request %s that nobody waits for", reply.sender,
                      reply.request)
            return
        self.counters["replies"] += 1
        q.put(reply, arrived)
