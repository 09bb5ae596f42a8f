"""The federation broker: two connectors, requests one way, replies the other.

On the **clients' middleware** it relays every request published into the federated
collectives (``Connector.relay_requests``) and sends replies back to the clients'
reply destinations; on the **nodes' middleware** it publishes those requests (one
broadcast, or one direct message per target, as the client did) and relays the replies
addressed to reply destinations of the clients' collectives
(``Connector.relay_replies``).

Per request: size limit, secure layer and request parsed, signature verified with the
collective's security plugin (a forged request never crosses), ttl window, allowed
caller, ``seen_by`` trace (its own name there: a loop, dropped; longer than
``max_hops``: dropped), then forwarded with its name appended to the trace and the
signed bytes unchanged. Per reply: verified, and forwarded only if it answers a
request this broker forwarded and that has not expired, to the destination it was
addressed to. Every decision on a request is one audit line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from mcollective.errors import ConfigError, ConnectionFailed, MessageError, SecurityError
from mcollective.message import Reply, Request, add_hop, seen_by, unwrap_secure
from mcollective.plugins import PluginManager, make_plugin_manager

if TYPE_CHECKING:
    from mcollective.connector import Connector
    from mcollective.security import SecurityProvider
    from mcollective_federation.settings import FederationSettings

log = logging.getLogger(__name__)

#: Forwarded requests remembered for routing their replies, at most.
MAX_PENDING = 100_000
#: (request id, target) pairs remembered to drop a request relayed twice.
MAX_SEEN = 200_000
FIRST_BACKOFF = 0.5


@dataclass
class Pending:
    request: Request
    expires: float
    replies: int = 0


class AuditLog:
    """One JSON object per line, to a file (appended, line-buffered) or stderr."""

    def __init__(self, target: str) -> None:
        import sys

        self._lock = threading.Lock()
        self._own = target not in ("", "-")
        self._fh: IO[str] = (open(target, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
                             if self._own else sys.stderr)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._own:
            self._fh.close()


class FederationBroker:
    """See the module docstring."""

    def __init__(self, settings: FederationSettings, *,
                 plugins: PluginManager | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.plugins = plugins or make_plugin_manager()
        self.stats = {"received": 0, "forwarded": 0, "refused": 0, "loops": 0,
                      "expired": 0, "duplicates": 0, "replies": 0, "replies_dropped": 0}
        self.clients: Connector | None = None
        self.nodes: Connector | None = None
        self.verify_requests: SecurityProvider | None = None
        self.verify_replies: SecurityProvider | None = None
        self.audit = AuditLog(settings.audit)
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._seen: OrderedDict[tuple[str, str | None], float] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Create and connect both connectors (retrying until :meth:`stop`, as a
        daemon does), then relay."""
        s = self.settings
        self.verify_requests = self.plugins.create_security(s.clients, "server")
        self.verify_replies = self.plugins.create_security(s.nodes, "client")
        self.clients = self.plugins.create_connector(s.clients)
        self.nodes = self.plugins.create_connector(s.nodes)
        for connector, config in ((self.clients, s.clients), (self.nodes, s.nodes)):
            self._connect(connector, config.connection_timeout or 10.0)
        self.clients.start(lambda body, identity: None)
        self.nodes.start(lambda body, identity: None)
        try:
            for collective in s.reply_collectives:
                self.nodes.relay_replies(collective, self._on_reply)
            for collective in s.collectives:
                self.clients.relay_requests(collective, self._on_request)
        except NotImplementedError as exc:
            raise ConfigError(f"{exc}: a federation needs connectors that relay "
                              "(kombu on amqp://, nats)", file=s.source) from None
        log.info("federation %s ready: forwarding %s from %s to %s", self.name,
                 ",".join(s.collectives), self._where(self.clients),
                 self._where(self.nodes))

    def _connect(self, connector: Connector, timeout: float) -> None:
        delay = FIRST_BACKOFF
        while True:
            try:
                connector.connect(timeout=timeout)
                return
            except ConnectionFailed as exc:
                log.warning("%s; retrying", exc)
                if self._stopping.wait(delay):
                    raise
                delay = min(delay * 2, 10.0)

    def stop(self) -> None:
        self._stopping.set()
        for connector in (self.clients, self.nodes):
            if connector is not None:
                try:
                    connector.close()
                except Exception:
                    log.debug("closing a connector", exc_info=True)
        self.audit.close()

    @staticmethod
    def _where(connector: Connector | None) -> str:
        if connector is None:
            return "?"
        info = connector.describe()
        return str(info.get("broker") or info.get("url") or "?")

    # --- requests: clients' middleware -> nodes' middleware --------------------------

    def _on_request(self, body: bytes, target: str | None) -> None:
        self.stats["received"] += 1
        try:
            self._forward_request(body, target)
        except Exception:  # the broker outlives every message
            log.exception("federation %s: unexpected error on a request", self.name)

    def _forward_request(self, body: bytes, target: str | None) -> None:
        s = self.settings
        if len(body) > s.max_message_size:
            self._refuse(None, target, f"message of {len(body)} bytes is larger than "
                         f"max_message_size ({s.max_message_size})")
            return
        try:
            outer, payload = unwrap_secure("request", body)
            request = Request.from_json(payload)
        except MessageError as exc:
            self._refuse(None, target, f"malformed: {exc}")
            return
        trace = seen_by(outer)
        if self.name in trace:
            self.stats["loops"] += 1
            self._record("loop", request, target, trace,
                         f"already forwarded by {self.name}: {' > '.join(trace)}")
            return
        if len(trace) >= s.max_hops:
            self._refuse(request, target, f"seen by {len(trace)} federation brokers "
                         f"(max_hops {s.max_hops})", trace)
            return
        assert self.verify_requests is not None
        try:
            if outer.get("security") != self.verify_requests.name:
                raise SecurityError(f"secured by {outer.get('security')!r}, this federation "
                                    f"uses {self.verify_requests.name!r}")
            self.verify_requests.verify_request(outer, payload, request)
        except SecurityError as exc:
            self._refuse(request, target, f"not authenticated: {exc}", trace)
            return
        now = time.time()
        skew = s.clients.clock_skew
        if now - request.time > request.ttl + skew or request.time - now > skew:
            self.stats["expired"] += 1
            self._record("expired", request, target, trace, "outside its ttl window")
            return
        if s.allow_callers and request.caller not in s.allow_callers:
            self._refuse(request, target, f"caller {request.caller} is not allowed through "
                         "this federation", trace)
            return
        if request.collective not in s.collectives:
            self._refuse(request, target, f"collective {request.collective} is not "
                         "federated here", trace)
            return
        expires = request.time + min(request.ttl, 86_400) + skew
        with self._lock:
            key = (request.id, target)
            if key in self._seen:
                self.stats["duplicates"] += 1
                return
            self._remember(key, expires, now)
            if request.id not in self._pending:
                self._pending[request.id] = Pending(request, expires)
                while len(self._pending) > MAX_PENDING:
                    self._pending.popitem(last=False)
        assert self.nodes is not None
        forwarded = add_hop(outer, self.name)
        try:
            self.nodes.publish_request(forwarded, collective=request.collective,
                                       agent=request.agent, ttl=request.ttl,
                                       targets=[target] if target is not None else None)
        except ConnectionFailed as exc:
            self._refuse(request, target, f"could not publish: {exc}", trace)
            return
        self.stats["forwarded"] += 1
        self._record("forwarded", request, target, [*trace, self.name], None)

    def _remember(self, key: tuple[str, str | None], expires: float, now: float) -> None:
        seen = self._seen
        seen[key] = expires
        while seen and (len(seen) > MAX_SEEN or next(iter(seen.values())) < now):
            seen.popitem(last=False)

    def _refuse(self, request: Request | None, target: str | None, reason: str,
                trace: list[str] | None = None) -> None:
        self.stats["refused"] += 1
        log.warning("federation %s refused a request%s: %s", self.name,
                    f" {request.id} from {request.caller}" if request else "", reason)
        self._record("refused", request, target, trace or [], reason)

    def _record(self, event: str, request: Request | None, target: str | None,
                trace: list[str], reason: str | None) -> None:
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "federation": self.name, "event": event,
            "request_id": request.id if request else None,
            "caller": request.caller if request else None,
            "sender": request.sender if request else None,
            "agent": request.agent if request else None,
            "action": request.action if request else None,
            "collective": request.collective if request else None,
            "target": target, "from": self._where(self.clients),
            "to": self._where(self.nodes), "seen_by": trace, "reason": reason}
        try:
            self.audit.write(record)
        except Exception:
            log.exception("federation %s could not write its audit log", self.name)

    # --- replies: nodes' middleware -> clients' middleware ---------------------------

    def _on_reply(self, body: bytes, reply_to: str | None) -> None:
        try:
            self._forward_reply(body, reply_to)
        except Exception:
            log.exception("federation %s: unexpected error on a reply", self.name)

    def _forward_reply(self, body: bytes, reply_to: str | None) -> None:
        if reply_to is None or len(body) > self.settings.max_message_size:
            self.stats["replies_dropped"] += 1
            return
        assert self.verify_replies is not None
        try:
            outer, payload = unwrap_secure("reply", body)
            reply = Reply.from_json(payload)
            self.verify_replies.verify_reply(outer, payload, reply)
        except (MessageError, SecurityError) as exc:
            self.stats["replies_dropped"] += 1
            log.warning("federation %s dropped a reply: %s", self.name, exc)
            return
        with self._lock:
            pending = self._pending.get(reply.request)
            if pending is not None and pending.expires < time.time():
                del self._pending[reply.request]
                pending = None
            if pending is not None:
                pending.replies += 1
        if pending is None or pending.request.reply_to != reply_to:
            # Not a request of ours (another federation's, a local client's), or
            # expired: not ours to route.
            self.stats["replies_dropped"] += 1
            return
        assert self.clients is not None
        try:
            self.clients.publish_reply(body, reply_to, ttl=pending.request.ttl)
            self.stats["replies"] += 1
        except ConnectionFailed as exc:
            self.stats["replies_dropped"] += 1
            log.warning("federation %s could not send a reply back: %s", self.name, exc)
