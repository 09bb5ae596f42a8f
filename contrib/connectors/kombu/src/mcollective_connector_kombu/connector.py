"""The kombu connector: mcollective's three messaging patterns on any kombu transport.

Two connections per process, because py-amqp dispatches deliveries re-entrantly from
inside a publish on the connection that consumes (lost replies at scale):

* the **consuming** connection belongs to one background thread, which runs a
  ``drain_events`` loop with a short timeout (so that :meth:`close` stops it promptly),
  sends heartbeats, and performs every declare/bind/unbind/delete. Calls made from other
  threads after :meth:`start` are handed to that thread and waited for;
* the **publishing** connection is shared by all threads under a lock. Virtual
  transports route by exchange type known in-process, so the publisher declares every
  exchange it publishes to.

Subscriptions are kept as *desired state* (identity -> collectives and agents, plus the
reply queue) and applied as a difference against what is bound, so calling
:meth:`subscribe_node` again (reload) binds new agents and unbinds removed ones, and a
reconnect simply applies everything again.

Failover: ``plugin.kombu.url`` may list several brokers; each connection attempt takes
the next one, and after a full round without success the connector waits an
exponentially growing, jittered pause (so that a thousand daemons do not reconnect in
lock-step after a broker restart), at most ``max_backoff`` seconds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import math
import os
import random
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

import kombu
from kombu import Consumer, Producer, Queue

from mcollective.connector import Connector, MessageHandler, RelayHandler
from mcollective.errors import ConnectionFailed
from mcollective_connector_kombu import amqp_transport, topology
from mcollective_connector_kombu.options import BrokerURL, KombuOptions
from mcollective_connector_kombu.topology import ExchangeSpec, QueuePolicy

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest the consumer thread blocks in drain_events: bounds how long close() and a
#: subscription change made from another thread wait for it.
DRAIN_TIMEOUT = 0.1
#: How long a subscription change made from another thread may wait for the consumer
#: thread (it may be reconnecting).
OPERATION_TIMEOUT = 30.0
#: Seconds between heartbeat/keep-alive work on the publishing connection.
MAINTENANCE_INTERVAL = 1.0
#: An idle consumer thread sleeps until there is input or a timer is due: the AMQP
#: heartbeat (checked four times per heartbeat interval, which py-amqp needs at least
#: twice), the Redis/SQS liveness work (MAINTENANCE_INTERVAL), or, with nothing due,
#: this long at most (a safety net; 100 idle daemons cost 21 % of a core when each
#: woke every DRAIN_TIMEOUT).
IDLE_WAIT = 60.0
#: First pause after a failed round of connection attempts (doubles up to max_backoff).
FIRST_BACKOFF = 0.1

_CONTENT_TYPE = "application/octet-stream"
#: Replies of inline actions published together at most (see publish_reply) ...
INLINE_BATCH = 256
#: ... and kept at most this long (seconds) while a burst of messages goes on.
INLINE_DELAY = 0.01

#: A message to publish: exchange (None: the default exchange), routing key, body,
#: expiration (seconds, or None).
_Outgoing = tuple["ExchangeSpec | None", str, bytes, "float | None"]


@dataclass(frozen=True)
class _AmqpConsumer:
    """A py-amqp consumer: what :meth:`KombuConnector._cancel` needs of one."""

    channel: Any
    tag: str

    def cancel(self) -> None:
        self.channel.basic_cancel(self.tag)


@dataclass(frozen=True)
class NodeSubscription:
    collectives: tuple[str, ...]
    agents: frozenset[str]


@dataclass(frozen=True)
class _Relay:
    """A federation broker's queue (see topology.relay_queues) and its handler."""

    kind: str  # "requests" or "replies"
    collective: str
    queue: str
    bindings: tuple[tuple[ExchangeSpec, str], ...]
    handler: RelayHandler = field(compare=False)

    def route(self, message: Any) -> str | None:
        """Requests: the target identity of a direct request (None: broadcast);
        replies: the reply destination (the routing key)."""
        info = getattr(message, "delivery_info", None) or {}
        key = info.get("routing_key")
        if self.kind == "replies":
            return str(key) if key is not None else None
        return str(key) if info.get("exchange") == self.bindings[1][0].name else None


#: What a consumed queue delivers to: a node identity, ``None`` (this client's replies),
#: for a redis PUB/SUB subscription a (collective, agent) to fan out locally, or a
#: federation relay.
Target = str | None | tuple[str, str] | _Relay


def refused(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a definite refusal: nothing listens at
    that address now, as opposed to a timeout or a name that does not resolve."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ConnectionRefusedError):
            return True
        if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def backoff(delay: float) -> float:
    """A pause of about ``delay`` seconds: uniformly jittered in [delay/2, delay]."""
    return random.uniform(delay / 2, delay)


class KombuConnector(Connector):
    """A :class:`mcollective.connector.Connector` over kombu (see module docstring)."""

    reports_replies = True

    def __init__(self, options: KombuOptions) -> None:
        super().__init__()
        self.options = options
        self.policy = QueuePolicy(options.broker.family, options.queue_expires)
        #: ``disconnects`` counts connections found lost (consuming or publishing),
        #: ``reconnects`` those re-established: a client compares them before and after
        #: a request to tell a broker failure from silent nodes (ClientSession).
        self.stats = {"published": 0, "publish_errors": 0, "received": 0,
                      "handler_errors": 0, "reconnects": 0, "disconnects": 0,
                      "failovers": 0, "malformed": 0}
        self._malformed_logged = 0.0
        #: Names this process's private resources (redis owner entries, pubsub queues).
        self.session = topology.session_id(options.identity)
        self._broker_index = 0
        self._current: BrokerURL | None = None
        self._stats_lock = threading.Lock()
        # Desired state, guarded by _state_lock.
        self._state_lock = threading.RLock()
        self._desired: dict[str, NodeSubscription] = {}
        #: redis: (collective, agent) -> local identities hosting it (from _desired).
        self._hosting: dict[tuple[str, str], tuple[str, ...]] = {}
        self._reply_queue: str | None = None
        #: What requests carry in ``reply_to``: the reply queue's routing key. On AMQP the
        #: queue itself may be replaced under it (see _ensure_reply_queue); elsewhere the
        #: two are the same name.
        self._reply_key: str | None = None
        #: Federation relays (desired state, like _desired): queue -> relay.
        self._relays: dict[str, _Relay] = {}
        self._reply_slot: IO[str] | None = None  # sqs: flock on our host reply queue
        # Consuming side, touched only by whoever runs consumer operations (see _on_consumer).
        self._conn: kombu.Connection | None = None
        self._channel: Any = None
        self._bound: dict[str, dict[str, set[str]]] = {}  # identity -> collective -> agents
        self._consumers: dict[str, Consumer | _AmqpConsumer] = {}  # queue -> consumer
        self._pubsub: dict[tuple[str, str], str] = {}  # redis: (collective, agent) -> queue
        self._next_renew = 0.0
        self._next_sweep = 0.0
        #: sqs: this process's liveness lease (see transports.SqsLease) and janitor.
        self._sqs_lease: Any = None
        self._sqs_janitor: Any = None
        if options.broker.family == "sqs":
            from mcollective_connector_kombu.transports import SqsLease

            self._sqs_lease = SqsLease(options.main_collective, options.identity,
                                       options.liveness_timeout)
        self._declared: set[str] = set()  # exchanges declared on the consuming channel
        self._xprobe: topology.ExchangeProbe | None = None  # amqp, consuming connection
        #: amqp: the consuming socket while it keeps DRAIN_TIMEOUT (see _tune_for_drain).
        self._tuned_sock: Any = None
        self._reply_declared = False
        self._broken = False  # the consuming connection needs rebuilding
        # Publishing side, guarded by _pub_lock.
        self._pub_lock = threading.Lock()
        self._pub_conn: kombu.Connection | None = None
        self._producer: Producer | None = None
        self._pub_declared: set[str] = set()
        self._pub_probe: topology.ExchangeProbe | None = None
        self._pub_broken = False
        #: After a failed reconnection of the publisher: no new attempt before this
        #: (monotonic) time, each publish failing at once with _pub_error meanwhile.
        self._pub_retry_at = 0.0
        self._pub_delay = FIRST_BACKOFF
        self._pub_error = ""
        # Replies waiting for the replies thread (see publish_reply).
        self._outbox_cv = threading.Condition()
        self._outbox: list[tuple[str, bytes, int]] = []
        self._outbox_closed = False
        self._replier: threading.Thread | None = None
        # Replies of inline actions, kept by the consumer thread (see publish_reply).
        self._inline: list[tuple[str, bytes, int]] = []
        self._inline_since = 0.0
        self._abandoned = False
        # Consumer thread.
        self._on_message: MessageHandler | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ops: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._closed = False
        #: amqp: a pipe that wakes the consumer thread from its select() (see _idle).
        self._wake_r = self._wake_w = -1

    # --- Connector API ---------------------------------------------------------------

    def connect(self, *, timeout: float | None = None) -> None:
        """Open the consuming and publishing connections, or raise ConnectionFailed
        (naming the URLs, passwords masked) once ``timeout`` seconds have passed."""
        if self._closed:
            raise ConnectionFailed("this connector was closed; create a new one")
        if self._conn is not None:
            return
        timeout = self.options.connect_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        conn = self._open(deadline, role="consumer")
        try:
            pub = self._open(deadline, role="publisher")
        except BaseException:
            _release(conn)
            raise
        if self._closed:  # close() was called while we were connecting
            _release(conn)
            _release(pub)
            raise ConnectionFailed("the connector was closed while connecting")
        with self._state_lock:
            self._conn, self._channel = conn, conn.channel()
            self._xprobe = self._new_probe(conn)
        with self._pub_lock:
            self._pub_conn = pub
            self._producer = Producer(pub.channel(), auto_declare=False)
            self._pub_probe = self._new_probe(pub)
        self._sweep(force=True)
        log.info("connected to %s", self._current.display if self._current
                 else self.options.display)

    def subscribe_node(self, identity: str, collectives: Iterable[str],
                       agents: Iterable[str]) -> None:
        wanted = NodeSubscription(tuple(dict.fromkeys(collectives)), frozenset(agents))
        self._change_node(identity, wanted if wanted.collectives else None)

    def unsubscribe_node(self, identity: str) -> None:
        self._change_node(identity, None)

    def subscribe_replies(self) -> str:
        def op() -> str:
            if self._reply_queue is None:
                self._reply_queue = self._reply_key = self._new_reply_queue_name()
            try:
                self._ensure_reply_queue()
            except self._recoverable_errors():
                self._broken = True  # declared again when the connection is back
            self._repair_if_not_started()
            assert self._reply_key is not None
            return self._reply_key

        return self._on_consumer(op)

    def relay_requests(self, collective: str, handler: RelayHandler) -> None:
        family = self.policy.family
        queue = topology.relay_queues(collective, self.options.account)[0]
        self._add_relay(_Relay("requests", collective, queue, (
            (topology.broadcast_exchange(collective), "agent.*"),
            (topology.directed_exchange(collective, family), "#")), handler))

    def relay_replies(self, collective: str, handler: RelayHandler) -> None:
        queue = topology.relay_queues(collective, self.options.account)[1]
        self._add_relay(_Relay("replies", collective, queue, (
            (topology.REPLY_EXCHANGE, f"{collective}.reply.#"),), handler))

    def _add_relay(self, relay: _Relay) -> None:
        if not self.policy.is_amqp:
            raise NotImplementedError(
                f"federation needs RabbitMQ (amqp://) or NATS; {self.options.display} is "
                f"{self.policy.family}")

        def op() -> None:
            self._relays[relay.queue] = relay
            try:
                self._apply_relay(relay)
            except self._recoverable_errors():
                self._broken = True  # applied when the connection is back
            self._repair_if_not_started()

        self._on_consumer(op)

    def _apply_relay(self, relay: _Relay) -> None:
        self.policy.declare_node_queue(self._channel, relay.queue)
        for exchange, key in relay.bindings:
            self._declare(exchange)
            self._channel.queue_bind(queue=relay.queue, exchange=exchange.name,
                                     routing_key=key)
        if self._on_message is not None and relay.queue not in self._consumers:
            self._consume(relay.queue, relay)

    def _new_probe(self, conn: kombu.Connection) -> topology.ExchangeProbe | None:
        return topology.ExchangeProbe(conn) if self.policy.is_amqp else None

    def _new_reply_queue_name(self) -> str:
        """A private queue per process; on SQS one of a few long-lived queues per
        host, held under an ``flock`` so that concurrent clients never share one."""
        main, identity = self.options.main_collective, self.options.identity
        if self.policy.persistent_replies and self.options.statedir:
            folder = os.path.join(self.options.statedir, "sqs-reply-slots")
            with contextlib.suppress(OSError):
                os.makedirs(folder, exist_ok=True)
                for slot in range(self.options.sqs_reply_slots):
                    fh = open(os.path.join(folder, f"{slot}.lock"), "a")  # noqa: SIM115
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        fh.close()
                        continue
                    self._reply_slot = fh
                    queue = topology.host_reply_queue(main, identity, slot)
                    if self._sqs_lease is not None:  # long-lived: no owner to outlive
                        self._sqs_lease.persistent.add(queue)
                    return queue
            log.warning("no free SQS reply slot in %s; using a queue of this process",
                        folder)
        return topology.reply_queue(main, identity, self.options.account)

    @property
    def _reply_is_persistent(self) -> bool:
        return self._reply_slot is not None

    def start(self, on_message: MessageHandler) -> None:
        with self._state_lock:
            if self._conn is None:
                raise RuntimeError("connect() first")
            if self._thread is not None:
                raise RuntimeError("already started")
            self._on_message = on_message
            if self.policy.is_amqp and self._wake_r < 0:
                self._wake_r, self._wake_w = os.pipe()
                os.set_blocking(self._wake_r, False)
                os.set_blocking(self._wake_w, False)
            # Consume only from now on: until then requests wait in the broker, where
            # their TTL applies, rather than in this process's socket buffers.
            try:
                self._consume_all()
            except self._recoverable_errors():
                self._broken = True  # the consumer thread reconnects and consumes
            self._thread = threading.Thread(target=self._run, name="mco-kombu-consumer",
                                            daemon=True)
            self._thread.start()

    def publish_request(self, body: bytes, *, collective: str, agent: str, ttl: int,
                        targets: Sequence[str] | None = None) -> None:
        policy = self.policy
        if targets is None:
            if policy.broadcast == "topic":
                self._publish(topology.broadcast_exchange(collective),
                              [topology.agent_key(agent)], body, ttl)
            else:
                # redis (PUB/SUB pattern = the channel name) and SNS ignore the key.
                self._publish(topology.fanout_exchange(collective, agent), [""], body, ttl)
        elif targets:
            if policy.direct_via_default:
                self._publish(None, [topology.node_queue(collective, t) for t in targets],
                              body, ttl)
            else:
                self._publish(topology.directed_exchange(collective, policy.family),
                              list(targets), body, ttl)

    def publish_reply(self, body: bytes, reply_to: str, *, ttl: int) -> None:
        """Queue a reply for the replies thread, which publishes everything queued in
        one go under one lock: a daemon answers from many worker threads at once (an
        emulator from hundreds), and taking turns on the publishing lock per reply
        cost more than the publishing itself. Failures are logged and counted
        (``publish_errors``); the reply is lost as a network would lose it.

        On the consumer thread itself (an action run inline) the reply is kept until
        the burst of messages being received is over (or INLINE_BATCH replies, or
        INLINE_DELAY seconds), then published in one batch by that thread: handing it
        to the replies thread would cost two thread switches for a reply that is ready
        now, and on AMQP a batch costs one system call (see amqp_transport)."""
        if threading.current_thread() is self._thread:
            self._check_publisher()
            if not self._inline:
                self._inline_since = time.monotonic()
            self._inline.append((reply_to, body, ttl))
            return
        with self._outbox_cv:
            self._check_publisher()
            self._outbox.append((reply_to, body, ttl))
            if self._replier is None:
                self._replier = threading.Thread(target=self._publish_replies,
                                                 name="mco-kombu-replies", daemon=True)
                self._replier.start()
            if len(self._outbox) == 1:  # else the replier is already due to take it
                self._outbox_cv.notify()

    def _publish_replies(self) -> None:
        while True:
            with self._outbox_cv:
                while not self._outbox and not self._outbox_closed:
                    self._outbox_cv.wait()
                if not self._outbox:
                    return
                batch, self._outbox = self._outbox, []
            self._publish_replies_now(batch)

    def _flush_inline(self) -> None:
        """Publish the replies of inline actions (consumer thread only)."""
        batch, self._inline = self._inline, []
        self._publish_replies_now(batch)

    def _publish_replies_now(self, batch: list[tuple[str, bytes, int]]) -> None:
        """Publish replies in one batch. Failures are logged (and counted), never
        raised: a lost reply is the client's timeout to report. The outcome goes to
        ``on_replies`` (the daemon counts only replies that left as sent).

        A reply destination no broker accepts (longer than a routing key may be) is
        dropped on its own here: published with the batch it would make RabbitMQ
        close the publishing connection, and every other reply in flight with it."""
        expiration = self.policy.expiration
        bad = [r for r in batch if len(r[0].encode("utf-8", "surrogatepass"))
               > topology.MAX_NAME]
        if bad:
            batch = [r for r in batch if r not in bad]
            self._count("publish_errors", len(bad))
            log.warning("dropped %d repl%s: reply destination longer than %d bytes",
                        len(bad), "y" if len(bad) == 1 else "ies", topology.MAX_NAME)
            self._replies_outcome(0, len(bad))
        if not batch:
            return
        with self._pub_lock:
            if self._pub_conn is None and not self._pub_broken:  # abandoned
                self._count("publish_errors", len(batch))
                self._replies_outcome(0, len(batch))
                return
            try:
                exchange = topology.REPLY_EXCHANGE if self.policy.is_amqp else None
                self._publish_batch([(exchange, reply_to, body, expiration(ttl))
                                     for reply_to, body, ttl in batch])
            except Exception as exc:
                log.warning("could not publish %d repl%s to %s: %s", len(batch),
                            "y" if len(batch) == 1 else "ies",
                            ", ".join(repr(r[:80]) for r in
                                      sorted({r for r, _, _ in batch})[:3]), exc)
                self._replies_outcome(0, len(batch))
                return
        self._replies_outcome(len(batch), 0)

    def _replies_outcome(self, sent: int, failed: int) -> None:
        callback = self.on_replies
        if callback is not None:
            try:
                callback(sent, failed)
            except Exception:  # pragma: no cover - the daemon's counter
                log.exception("on_replies failed")

    def _flush_replies(self) -> None:
        """Publish what is queued, then stop the replies thread."""
        with self._outbox_cv:
            self._outbox_closed = True
            self._outbox_cv.notify_all()
            thread = self._replier
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, 2 * self.options.publish_timeout))

    def close(self) -> None:
        """Stop the consumer thread, delete this process's queues, disconnect."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._stopping.set()
            thread = self._thread
        self._wake_consumer()  # not after its next timeout: nobody waits to leave
        if thread is not None and thread is threading.current_thread():
            # Called from on_message: finish from another thread once this one is out.
            threading.Thread(target=self._finish_close, args=(thread,),
                             name="mco-kombu-close", daemon=True).start()
            return
        self._finish_close(thread)

    def abandon(self) -> None:
        """Stop as a killed process would: nothing deleted, connections just dropped.

        For crash tests (the connector contract); a real ``kill -9`` is exercised by
        the fault tests. The broker, the filesystem janitor or the Redis janitor must
        then remove what this process owned.
        """
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._abandoned = True
            self._stopping.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._wake_consumer()
            thread.join(timeout=5)
            if not thread.is_alive():
                self._close_wake_pipe()
        with self._outbox_cv:  # queued replies die with the process
            self._outbox.clear()
            self._outbox_closed = True
            self._outbox_cv.notify_all()
        for conn in (self._conn, self._pub_conn):
            if conn is not None:
                _drop(conn)
        with self._state_lock:
            self._conn = self._channel = None
        with self._pub_lock:
            self._pub_conn = self._producer = None
        if self._reply_slot is not None:
            self._reply_slot.close()
            self._reply_slot = None

    def describe(self) -> dict[str, Any]:
        with self._state_lock:
            nodes = {identity: {"collectives": list(sub.collectives),
                                "agents": sorted(sub.agents)}
                     for identity, sub in self._desired.items()}
            reply = self._reply_queue
        info: dict[str, Any] = {
            "connector": "kombu",
            "url": self.options.display,
            "broker": self._current.display if self._current else None,
            "transport": self.options.broker.family,
            "connected": self._conn is not None and not self._closed,
            "consuming": self._thread is not None and self._thread.is_alive(),
            "session": self.session,
            "reply_queue": reply,
            "nodes": nodes,
            "stats": dict(self.stats),
        }
        publisher = getattr(self._producer, "channel", None)
        if publisher is not None and hasattr(publisher, "dropped"):
            # Published to a queue that no longer exists (a node or client gone).
            info["dropped"] = publisher.dropped
        consuming = getattr(getattr(self._conn, "transport", None), "broker", None)
        publishing = getattr(getattr(self._pub_conn, "transport", None), "broker", None)
        if consuming is not None and publishing is not None:
            info["filesystem"] = {
                "root": consuming.root,
                "dropped": publishing.stats["dropped"],
                "swept_queues": consuming.stats["swept_queues"],
                "swept_sessions": consuming.stats["swept_sessions"],
            }
        return info

    # --- connections --------------------------------------------------------------

    def _open(self, deadline: float, *, role: str) -> kombu.Connection:
        """Connect to the next broker of the failover list, retrying until
        ``deadline`` (``inf``: until it works or close() is called); each attempt is
        bounded by the time left and by ``connect_timeout``, so this never blocks past
        the deadline. After a full round of failures, wait a jittered, doubling pause
        (at most ``max_backoff``).

        A definite refusal (ECONNREFUSED) of the only broker there is fails at once
        when the deadline is finite: a client learns that nothing listens there now
        rather than after its whole timeout. A node (``inf``) keeps trying; it says why
        once, at warning level, and once more when the broker answers."""
        brokers = self.options.brokers
        last: BaseException | None = None
        delay = FIRST_BACKOFF
        attempts = 0
        started = time.monotonic()
        forever = math.isinf(deadline)
        while True:
            broker = brokers[self._broker_index % len(brokers)]
            remaining = deadline - time.monotonic()
            attempt = max(min(remaining, self.options.connect_timeout), 0.05)
            conn = self._new_connection(broker, attempt, role=role)
            try:
                # One attempt (kombu's connect() sleeps 2 s and retries once); the
                # retrying is ours, bounded by the deadline.
                conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
                self._probe(conn, attempt)
                if self._current is not None and self._current != broker:
                    self._count("failovers")
                    log.warning("failed over to %s", broker.display)
                self._current = broker
                if forever and attempts >= len(brokers):
                    log.info("%s answered after %d attempts in %.0fs", broker.display,
                             attempts, time.monotonic() - started)
                return conn
            except Exception as exc:  # every transport has its own error classes
                last = exc
                log.debug("connecting to %s failed: %s", broker.display, exc)
                _release(conn)
            attempts += 1
            self._broker_index += 1
            if not forever and len(brokers) == 1 and refused(last):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                break
            if attempts % len(brokers) == 0:
                if forever and attempts == len(brokers):
                    log.warning("cannot reach %s (%s: %s); trying again until it answers, "
                                "pausing up to %gs between attempts", self.options.display,
                                type(last).__name__, last, self.options.max_backoff)
                if self._stopping.wait(min(backoff(delay), remaining)):
                    break
                delay = min(delay * 2, self.options.max_backoff)
        reason = f"{type(last).__name__}: {last}" if last else "timed out"
        raise ConnectionFailed(f"cannot connect to {self.options.display}: {reason}") \
            from last

    def _probe(self, conn: kombu.Connection, timeout: float) -> None:
        """SQS is HTTP: 'connecting' does nothing, so ask it something cheap."""
        if self.options.broker.family == "sqs":
            channel: Any = conn.default_channel
            channel.sqs().list_queues(QueueNamePrefix="mco-probe-", MaxResults=1)

    def _new_connection(self, broker: BrokerURL, timeout: float, *,
                        role: str) -> kombu.Connection:
        opts = self.options
        ssl: Any = opts.tls.for_family(broker.family) if opts.tls else None
        if broker.family == "filesystem":
            from mcollective_connector_kombu.fstransport import Transport as FsTransport

            return kombu.Connection(transport=FsTransport, transport_options={
                "root": broker.root,
                "polling_interval": opts.polling_interval,
                # Publishers never wait in drain_events: they sweep nothing.
                "janitor_interval": opts.janitor_interval if role == "consumer" else 0,
                "mco_on_malformed": self._transport_malformed,
            })
        if broker.family == "memory":
            from mcollective_connector_kombu.memory_transport import MemoryTransport

            return kombu.Connection(broker.url, transport=MemoryTransport,
                                    transport_options={
                "polling_interval": opts.polling_interval,
                "mco_on_malformed": self._transport_malformed,
            })
        if broker.family == "redis":
            from mcollective_connector_kombu.transports import RedisTransport

            return kombu.Connection(broker.url, transport=RedisTransport, ssl=ssl,
                                    connect_timeout=timeout, transport_options={
                "polling_interval": opts.polling_interval,
                # One list per queue instead of four: one BRPOP key per queue.
                "priority_steps": [0],
                # PUB/SUB channel = exchange name; the routing key is not a pattern.
                "fanout_patterns": False,
                "socket_connect_timeout": timeout,
                # A publish or command stuck on a dead server fails instead of hanging;
                # must exceed the BRPOP timeout.
                "socket_timeout": max(5.0, 2 * opts.publish_timeout,
                                      (opts.polling_interval or 0) + 2),
                "health_check_interval": 10,
                "mco_session": self.session,
                "mco_liveness_ms": int(opts.liveness_timeout * 1000),
                "mco_on_malformed": self._transport_malformed,
            })
        if broker.family == "sqs":
            from mcollective_connector_kombu.transports import sqs_transport

            return kombu.Connection(broker.url, transport=sqs_transport(),
                                    transport_options={
                "region": opts.sqs_region,
                "is_secure": opts.sqs_secure,
                "supports_fanout": True,
                "wait_time_seconds": opts.sqs_wait_time,
                "polling_interval": opts.polling_interval,
                "sqs-creation-attributes": {
                    "MessageRetentionPeriod": str(opts.sqs_retention)},
                "client-config": {"connect_timeout": max(timeout, 0.5),
                                  "read_timeout": max(5.0, opts.sqs_wait_time + 5.0),
                                  "retries": {"max_attempts": 1}},
                # The consuming side owns (declares) queues, under this lease.
                "mco_lease": self._sqs_lease if role == "consumer" else None,
                "mco_on_malformed": self._transport_malformed,
            })
        return kombu.Connection(broker.url, transport=amqp_transport.Transport,
                                connect_timeout=timeout, ssl=ssl or
                                broker.scheme == "amqps", heartbeat=opts.heartbeat,
                                transport_options={
            "write_timeout": max(5.0, 2 * opts.publish_timeout),
            "read_timeout": max(5.0, 2 * opts.publish_timeout),
        })

    def _recoverable_errors(self) -> tuple[type[BaseException], ...]:
        conn = self._conn or self._pub_conn
        errors: tuple[type[BaseException], ...] = (OSError, ConnectionError)
        if conn is not None:
            errors += tuple(conn.connection_errors)
        return errors

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def _transport_malformed(self, queue: str, reason: str) -> None:
        """A message the transport could not decode (see malformed.py): counted,
        reported to the daemon, dropped. Logged at most once a minute, with the
        count: garbage is whatever an attacker wants it to be, a flood of it must not
        flood the log too."""
        self._count("malformed")
        now = time.monotonic()
        if now - self._malformed_logged >= 60.0:
            self._malformed_logged = now
            log.warning("dropped a message from %s that is not a message (%s); %d so far",
                        queue, reason, self.stats.get("malformed", 0))
        callback = self.on_malformed
        if callback is not None:
            callback(reason)

    # --- running things on the consuming connection ----------------------------------

    def _on_consumer(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` where the consuming connection may be used: right here before
        start() (or on the consumer thread itself), else on the consumer thread."""
        with self._state_lock:
            if self._closed:
                raise ConnectionFailed("the connector is closed")
            if self._conn is None:
                raise ConnectionFailed("not connected; call connect() first")
            thread = self._thread
            if thread is threading.current_thread():
                self._untune()
                return fn()
            if thread is None or not thread.is_alive():
                return fn()
            future: Future[T] = Future()
            self._ops.append((fn, future))
        self._wake_consumer()
        try:
            return future.result(timeout=OPERATION_TIMEOUT)
        except TimeoutError:
            raise ConnectionFailed(
                f"the consumer of {self.options.display} did not respond within "
                f"{OPERATION_TIMEOUT:g}s (reconnecting?)") from None

    def _tune_for_drain(self, conn: kombu.Connection) -> None:
        """amqp: give the consuming socket the timeout ``drain_events`` asks for.

        py-amqp sets the socket's timeout before every frame it reads and restores it
        after, unless it already has that value: two system calls per frame, each
        letting go of the GIL and waiting to get it back from the threads running
        actions. Kept between drains, both are skipped. But a synchronous call (a
        declare, a bind, a consume) waits for its answer with whatever timeout the
        socket has: one slower than DRAIN_TIMEOUT would fail, and the connection be
        rebuilt, losing what was in flight. So :meth:`_untune` gives the socket back
        its blocking mode before any such call."""
        if not self.policy.is_amqp:
            return
        sock = getattr(getattr(conn.connection, "transport", None), "sock", None)
        if sock is not None and sock is not self._tuned_sock:
            sock.settimeout(DRAIN_TIMEOUT)
            self._tuned_sock = sock

    def _input_waiting(self) -> bool:
        """amqp: another frame is already received (the burst goes on)."""
        transport = amqp_transport.buffered(self._conn)
        return transport is not None and transport.has_frame()

    def _untune(self) -> None:
        """Blocking mode again (bounded by py-amqp's read/write timeouts), for
        synchronous calls on the consuming connection; see :meth:`_tune_for_drain`."""
        sock, self._tuned_sock = self._tuned_sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(None)

    def _wake_consumer(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):  # full (already woken) or closed
                os.write(self._wake_w, b"w")
        wake = getattr(getattr(self._conn, "transport", None), "wake", None)
        if wake is not None:
            wake()

    def _close_wake_pipe(self) -> None:
        """Once the consumer thread is gone (nobody selects on it any more)."""
        wake_r, wake_w, self._wake_r, self._wake_w = self._wake_r, self._wake_w, -1, -1
        for fd in (wake_r, wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _idle(self, conn: kombu.Connection, wait: float) -> bool:
        """amqp: sleep until the broker sends something, another thread wakes us
        (an operation, close), or ``wait`` seconds pass; True when there is input to
        drain. Instead of waking every DRAIN_TIMEOUT to find nothing: an idle daemon
        then costs nothing between its timers."""
        if self._wake_r < 0 or self._ops or self._inline or self._input_waiting():
            return True
        sock = getattr(getattr(conn.connection, "transport", None), "sock", None)
        if sock is None:
            return True
        pending = getattr(sock, "pending", None)  # TLS: bytes decrypted, not yet read
        if pending is not None and pending():
            return True
        try:
            readable, _, _ = select.select([sock, self._wake_r], [], [], max(0.0, wait))
        except (OSError, ValueError):
            return True  # a closed socket: let drain_events report it
        if self._wake_r in readable:
            with contextlib.suppress(OSError):
                while os.read(self._wake_r, 512):
                    pass
        return sock in readable

    def _run_ops(self) -> None:
        if not self._ops:  # the usual case, checked without the lock
            return
        self._untune()
        while True:
            with self._state_lock:
                if not self._ops:
                    return
                fn, future = self._ops.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    # --- subscriptions --------------------------------------------------------------

    def _change_node(self, identity: str, wanted: NodeSubscription | None) -> None:
        def op() -> None:
            previous = self._desired.get(identity)
            self._set_desired(identity, wanted)
            refused: Exception | None = None
            try:
                self._apply_node(identity)
            except self._recoverable_errors() as exc:
                # Kept as desired: applied when the connection is back.
                log.warning("broker unreachable while subscribing %s (%s); will retry "
                            "after reconnecting", identity, exc)
                self._broken = True
            except Exception as exc:
                refused = exc
                self._set_desired(identity, previous)
                if self.policy.channel_dies_on_error:
                    self._broken = True  # the rebuild applies the previous state
                else:
                    with contextlib.suppress(Exception):
                        self._apply_node(identity)
            self._repair_if_not_started()
            if refused is not None:
                raise ConnectionFailed(
                    f"{self.options.display} refused the subscriptions of "
                    f"{identity}: {type(refused).__name__}: {refused}") from refused

        self._on_consumer(op)

    def _repair_if_not_started(self) -> None:
        """Before start() nobody else would rebuild a broken consuming connection:
        do it now, and let the caller see ConnectionFailed if the broker is gone."""
        if self._broken and self._thread is None:
            self._rebuild(time.monotonic() + self.options.connect_timeout)

    def _set_desired(self, identity: str, wanted: NodeSubscription | None) -> None:
        with self._state_lock:
            if wanted is None:
                self._desired.pop(identity, None)
            else:
                self._desired[identity] = wanted
            if self.policy.broadcast == "pubsub":
                hosting: dict[tuple[str, str], list[str]] = {}
                for ident, sub in self._desired.items():
                    for collective in sub.collectives:
                        for agent in sub.agents:
                            hosting.setdefault((collective, agent), []).append(ident)
                self._hosting = {k: tuple(v) for k, v in hosting.items()}

    def _apply_node(self, identity: str) -> None:
        """Make what is bound for ``identity`` match what is desired."""
        with self._state_lock:
            wanted = self._desired.get(identity)
        have = self._bound.setdefault(identity, {})
        collectives = wanted.collectives if wanted else ()
        agents = wanted.agents if wanted else frozenset()
        mode = self.policy.broadcast
        for collective in [c for c in have if c not in collectives]:
            self._drop_node_queue(identity, collective, have[collective])
            del have[collective]
        for collective in collectives:
            queue = topology.node_queue(collective, identity)
            if collective not in have:
                self.policy.declare_node_queue(self._channel, queue)
                if not self.policy.direct_via_default:
                    directed = topology.directed_exchange(collective, self.policy.family)
                    self._declare(directed)
                    self._channel.queue_bind(queue=queue, exchange=directed.name,
                                             routing_key=identity)
                have[collective] = set()
            bound = have[collective]
            if mode == "pubsub":
                bound.clear()
                bound.update(agents)  # broadcast is per process: see _apply_pubsub
            else:
                for agent in sorted(bound - agents):
                    self._unbind_agent(queue, collective, agent)
                    bound.discard(agent)
                for agent in sorted(agents - bound):
                    exchange, key = self._agent_binding(collective, agent)
                    self._declare(exchange)
                    self._channel.queue_bind(queue=queue, exchange=exchange.name,
                                             routing_key=key)
                    bound.add(agent)
            if self._on_message is not None and queue not in self._consumers:
                self._consume(queue, identity)
        if not have:
            self._bound.pop(identity, None)
        if mode == "pubsub":
            self._apply_pubsub()

    def _agent_binding(self, collective: str, agent: str) -> tuple[ExchangeSpec, str]:
        """Where a node queue is bound to receive broadcasts for ``agent``."""
        if self.policy.broadcast == "topic":
            return topology.broadcast_exchange(collective), topology.agent_key(agent)
        return topology.fanout_exchange(collective, agent), ""

    def _unbind_agent(self, queue: str, collective: str, agent: str) -> None:
        exchange, key = self._agent_binding(collective, agent)
        self._channel.queue_unbind(queue=queue, exchange=exchange.name, routing_key=key)

    def _apply_pubsub(self) -> None:
        """redis: one PUB/SUB subscription per (collective, agent) any local identity
        hosts; messages are fanned out to those identities in-process."""
        with self._state_lock:
            wanted = set(self._hosting)
        for key in [k for k in self._pubsub if k not in wanted]:
            queue = self._pubsub.pop(key)
            self._cancel(queue)
            self._channel.queue_delete(queue=queue)
        for key in sorted(wanted - set(self._pubsub)):
            collective, agent = key
            queue = topology.fanout_queue(collective, agent, self.session)
            exchange = topology.fanout_exchange(collective, agent)
            self._declare(exchange)
            self.policy.declare_pubsub_queue(self._channel, queue)
            self._channel.queue_bind(queue=queue, exchange=exchange.name, routing_key="")
            self._pubsub[key] = queue
        if self._on_message is not None:
            for key, queue in self._pubsub.items():
                if queue not in self._consumers:
                    self._consume(queue, key)

    def _drop_node_queue(self, identity: str, collective: str, agents: set[str]) -> None:
        queue = topology.node_queue(collective, identity)
        self._cancel(queue)
        if self.policy.broadcast == "topic" and not self.policy.is_amqp:
            # Virtual transports keep routing tables the publisher reads: empty them
            # before the queue goes (AMQP brokers drop a queue's bindings with it).
            for agent in sorted(agents):
                self._unbind_agent(queue, collective, agent)
            self._channel.queue_unbind(
                queue=queue, exchange=topology.directed_exchange(
                    collective, self.policy.family).name, routing_key=identity)
        # sqs: queue_delete removes the SNS subscriptions; redis: the list and owner.
        self._channel.queue_delete(queue=queue)

    def _ensure_reply_queue(self) -> None:
        if self._reply_queue is None:
            return
        if not self._reply_declared:
            if self._reply_is_persistent:
                # Shared over time by the clients of this host: not exclusive.
                self.policy.declare_node_queue(self._channel, self._reply_queue)
            else:
                try:
                    self.policy.declare_reply_queue(self._channel, self._reply_queue)
                except Exception as exc:
                    self._replace_stranded_reply_queue(exc)
                    raise
                if self.policy.is_amqp:
                    self._declare(topology.REPLY_EXCHANGE)
                    self._channel.queue_bind(queue=self._reply_queue,
                                             exchange=topology.REPLY_EXCHANGE.name,
                                             routing_key=self._reply_key or self._reply_queue)
            self._reply_declared = True
        if self._on_message is not None and self._reply_queue not in self._consumers:
            self._consume(self._reply_queue, None)

    def _replace_stranded_reply_queue(self, exc: Exception) -> None:
        """A clustered RabbitMQ keeps an exclusive queue's record while the node that
        held it is down or not yet forgotten: declaring it again from another node is
        refused (405 RESOURCE_LOCKED, or 404 when its home node is down) for as long as
        that lasts. The client then consumes on a queue with a new name, bound under
        the same routing key, so the ``reply_to`` of requests already made stays valid
        (replies that were queued on the dead node are lost with it)."""
        code = getattr(exc, "reply_code", getattr(exc, "code", None))
        if not self.policy.is_amqp or code not in (404, 405) or self._reply_queue is None:
            return
        old = self._reply_queue
        self._reply_queue = topology.reply_queue(self.options.main_collective,
                                                 self.options.identity, self.options.account)
        log.warning("reply queue %s is held by a broker node that is gone (%s); "
                    "receiving replies on %s", old, code, self._reply_queue)

    def _consume_all(self) -> None:
        """Start consuming every declared queue that is not consumed yet."""
        self._ensure_reply_queue()
        for identity, collectives in self._bound.items():
            for collective in collectives:
                queue = topology.node_queue(collective, identity)
                if queue not in self._consumers:
                    self._consume(queue, identity)
        for key, queue in self._pubsub.items():
            if queue not in self._consumers:
                self._consume(queue, key)
        for queue, relay in self._relays.items():
            if queue not in self._consumers:
                self._consume(queue, relay)

    def _declare(self, exchange: ExchangeSpec) -> None:
        if exchange.name not in self._declared:
            topology.declare_exchange(self._channel, exchange, self._xprobe)
            self._declared.add(exchange.name)

    def _consume(self, queue: str, target: Target) -> None:
        if self.policy.is_amqp:
            # py-amqp's own consumer: kombu's would wrap every message in two more
            # objects before handing over the body.
            channel = self._channel
            tag = channel.basic_consume(queue=queue, no_ack=True, callback=functools.partial(
                self._handle, target))
            self._consumers[queue] = _AmqpConsumer(channel, tag)
            return
        consumer = Consumer(self._channel, queues=[Queue(queue, no_declare=True)],
                            no_ack=True, auto_declare=False,
                            on_message=functools.partial(self._handle, target))
        consumer.consume()
        self._consumers[queue] = consumer

    def _cancel(self, queue: str) -> None:
        consumer = self._consumers.pop(queue, None)
        if consumer is not None:
            consumer.cancel()

    def _handle(self, target: Target, message: Any) -> None:
        """A message from kombu's consumer, or (AMQP) py-amqp's: both have a body."""
        self._count("received")
        handler = self._on_message
        if handler is None:
            return
        body = message.body
        if isinstance(body, str):
            body = body.encode()
        elif body is None:
            body = b""
        elif not isinstance(body, bytes | bytearray | memoryview):
            # bytes(an int) would allocate that many bytes: never convert blindly.
            self._transport_malformed(str(target), f"body is a {type(body).__name__}")
            return
        body = bytes(body)
        if isinstance(target, _Relay):
            try:
                target.handler(body, target.route(message))
            except Exception:
                self._count("handler_errors")
                log.exception("federation handler failed for a message from %s",
                              target.queue)
            return
        if isinstance(target, tuple):
            with self._state_lock:
                identities: tuple[str | None, ...] = self._hosting.get(target, ())
        else:
            identities = (target,)
        for identity in identities:
            try:
                handler(body, identity)
            except Exception:
                self._count("handler_errors")
                log.exception("message handler failed for a message to %s",
                              identity or "the reply queue")

    # --- the consumer thread --------------------------------------------------------

    def _run(self) -> None:
        family = self.options.broker.family
        # Only Redis and SQS have liveness work every MAINTENANCE_INTERVAL; AMQP's
        # publisher needs its heartbeats, filesystem and memory nothing.
        beat = self.options.heartbeat / 4 if self.policy.is_amqp and self.options.heartbeat \
            else math.inf
        every = MAINTENANCE_INTERVAL if family in ("redis", "sqs") else min(beat, IDLE_WAIT)
        beat = max(beat, DRAIN_TIMEOUT)
        next_maintenance = time.monotonic() + every
        next_heartbeat = 0.0
        while not self._stopping.is_set():
            try:
                self._run_ops()
                if self._broken:
                    self._rebuild(None)
                    continue
                conn = self._conn
                assert conn is not None
                if self.policy.is_amqp:
                    due = min(next_heartbeat, next_maintenance) - time.monotonic()
                    if self._idle(conn, due):
                        self._tune_for_drain(conn)
                        try:
                            conn.drain_events(timeout=DRAIN_TIMEOUT)
                        except TimeoutError:
                            pass
                else:
                    # Filesystem: its drain waits on the doorbell, and returns when
                    # woken (an operation, close); others poll as they must.
                    wait = DRAIN_TIMEOUT if family != "filesystem" or self._inline else \
                        max(DRAIN_TIMEOUT, next_maintenance - time.monotonic())
                    try:
                        conn.drain_events(timeout=wait)
                    except TimeoutError:
                        pass
                now = time.monotonic()
                if self._inline and (len(self._inline) >= INLINE_BATCH
                                     or now - self._inline_since >= INLINE_DELAY
                                     or not self._input_waiting()):
                    self._flush_inline()
                if self.policy.is_amqp and now >= next_heartbeat:
                    # Not after every message of a burst: a few times a second is
                    # far more often than any heartbeat interval needs.
                    next_heartbeat = now + beat
                    conn.heartbeat_check()
                if now >= next_maintenance:
                    next_maintenance = now + every
                    self._maintain_publisher()
                    self._maintain_session(now)
                    self._sweep()
            except Exception as exc:
                if self._stopping.is_set():
                    break
                log.warning("connection to %s failed: %s: %s; reconnecting",
                            self.options.display, type(exc).__name__, exc)
                log.debug("consuming connection failure", exc_info=True)
                self._count("disconnects")
                self._broken = True
        if self._inline and not self._abandoned:
            self._flush_inline()
        self._fail_pending_ops()

    def _rebuild(self, deadline: float | None) -> None:
        """Reconnect the consuming side and declare every subscription again.

        ``deadline`` None: keep trying (with backoff) until it works or close() is
        called; otherwise raise ConnectionFailed once it passes.
        """
        delay = FIRST_BACKOFF
        failures = 0
        old = self._conn
        self._tuned_sock = None
        self._forget_consumer_state()
        if old is not None:
            _release(old)
        while not self._stopping.is_set():
            attempt_deadline = (time.monotonic() + self.options.connect_timeout
                                if deadline is None else deadline)
            conn: kombu.Connection | None = None
            try:
                conn = self._open(attempt_deadline, role="consumer")
                with self._state_lock:
                    self._conn, self._channel = conn, conn.channel()
                    self._xprobe = self._new_probe(conn)
                self._restore()
                self._broken = False
                self._pub_retry_at = 0.0  # the broker is back: the publisher may retry
                self._count("reconnects")
                log.info("reconnected to %s", self._current.display if self._current
                         else self.options.display)
                return
            except Exception as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    raise ConnectionFailed(
                        f"cannot reconnect to {self.options.display}: {exc}") from exc
                # Once: a broker down for an hour must not fill the log.
                (log.debug if failures else log.warning)(
                    "reconnecting to %s failed: %s; still trying", self.options.display, exc)
                failures += 1
                if conn is not None:
                    # Closed, not left open: a queue it already consumes would keep
                    # receiving (the broker shares a queue's messages among its
                    # consumers) on a connection nobody reads any more.
                    _release(conn)
                self._forget_consumer_state()
                self._stopping.wait(backoff(delay))
                delay = min(delay * 2, self.options.max_backoff)

    def _forget_consumer_state(self) -> None:
        """What was declared on the consuming connection: gone with it."""
        self._consumers.clear()
        self._bound.clear()
        self._pubsub.clear()
        self._declared.clear()
        self._reply_declared = False

    def _restore(self) -> None:
        """Declare the reply queue and every node subscription on a new connection.

        Any failure propagates, and :meth:`_rebuild` tries again with back-off until
        it works: the subscriptions stay desired. Dropping a subscription the broker
        seemed to refuse once made a node deaf for good (alive, consuming nothing)
        whenever something else went wrong meanwhile, e.g. garbage arriving during
        the re-subscription; an ACL that really refuses is logged by the rebuild
        and retried at most every ``max_backoff`` seconds, which costs nothing."""
        self._ensure_reply_queue()
        for relay in list(self._relays.values()):
            self._apply_relay(relay)
        with self._state_lock:
            identities = list(self._desired)
        for identity in identities:
            try:
                self._apply_node(identity)
            except self._recoverable_errors():
                raise
            except Exception as exc:
                raise ConnectionFailed(
                    f"{self.options.display} refused the subscriptions of {identity} "
                    f"after reconnecting: {type(exc).__name__}: {exc}; will retry") from exc

    def _maintain_session(self, now: float) -> None:
        """redis: renew this process's liveness key; if it had expired (a stall longer
        than ``liveness_timeout``), the janitor may have removed our lists: rebuild.
        sqs: likewise with the lease our queues point at (transports.SqsLease)."""
        family = self.options.broker.family
        if family not in ("redis", "sqs") or now < self._next_renew:
            return
        self._next_renew = now + self.options.liveness_timeout / 3
        if family == "sqs":
            lease = self._sqs_lease
            if lease is None or lease.marker is None or self._channel is None:
                return
            try:
                alive = lease.renew(self._channel.sqs())
            except Exception as exc:  # unreachable, throttled: try again soon
                log.warning("could not renew our SQS lease on %s: %s", self.options.display,
                            exc)
                self._next_renew = now + MAINTENANCE_INTERVAL
                return
            if not alive:
                log.warning("our SQS lease on %s had lapsed; declaring our queues again",
                            self.options.display)
                self._broken = True
            return
        renew = getattr(self._channel, "renew_session", None)
        owns = bool(self._bound) or self._reply_declared
        if renew is not None and not renew() and owns:
            log.warning("our liveness key on %s had expired; declaring our queues again",
                        self.options.display)
            self._broken = True

    def _sweep(self, *, force: bool = False) -> None:
        """redis: delete the lists of processes that died without cleaning up (the
        filesystem broker has its own janitor). One process per interval sweeps.
        sqs: daemons (owners of node queues) sweep, in a background thread, at a pace
        spread over the fleet (transports.SqsJanitor); not on connect."""
        if self.options.broker.family == "sqs":
            channel, janitor = self._channel, self._sqs_janitor
            if force or channel is None or not self._bound or self._stopping.is_set():
                return
            if janitor is None:
                from mcollective_connector_kombu.transports import SqsJanitor

                janitor = self._sqs_janitor = SqsJanitor(
                    interval=self.options.janitor_interval,
                    timeout=self.options.liveness_timeout, lease=self._sqs_lease)
            if not janitor.due(time.monotonic()):
                return
            collectives = sorted({c for cs in self._bound.values() for c in cs}
                                 | {self.options.main_collective})
            try:
                janitor.start(
                    channel.sqs(), channel.fanout.get_client(),
                    [channel.canonical_queue_name(f"{c}.") for c in collectives],
                    [channel.canonical_queue_name(topology.fanout_exchange(c, "").name)
                     for c in collectives], self._stopping)
            except Exception as exc:
                log.debug("janitor failed: %s", exc)
            return
        if self.options.broker.family != "redis" or self._channel is None:
            return
        interval = self.options.janitor_interval
        now = time.monotonic()
        if not force and (not interval or now < self._next_sweep):
            return
        self._next_sweep = now + interval
        from mcollective_connector_kombu.transports import sweep_redis

        try:
            with self._channel.conn_or_acquire() as client:
                sweep_redis(client, lock_ms=0 if force else int(interval * 1000))
        except Exception as exc:
            log.debug("janitor failed: %s", exc)

    def _fail_pending_ops(self) -> None:
        with self._state_lock:
            ops, self._ops = list(self._ops), deque()
        for _, future in ops:
            if future.set_running_or_notify_cancel():
                future.set_exception(ConnectionFailed("the connector is closed"))

    def _finish_close(self, thread: threading.Thread | None) -> None:
        if thread is not None:
            thread.join(timeout=max(5.0, 20 * DRAIN_TIMEOUT))
            if thread.is_alive():
                log.warning("the consumer thread did not stop; closing anyway")
        self._fail_pending_ops()
        stopped = thread is None or not thread.is_alive()
        if stopped:
            self._close_wake_pipe()
        if self._conn is not None and stopped and not self._broken:
            self._untune()
            try:
                for queue in list(self._consumers):
                    self._cancel(queue)
                for identity, collectives in list(self._bound.items()):
                    for collective, agents in list(collectives.items()):
                        self._drop_node_queue(identity, collective, agents)
                for queue in [*self._pubsub.values(), *self._relays]:
                    self._channel.queue_delete(queue=queue)
                if (self._reply_declared and self._reply_queue is not None
                        and not self._reply_is_persistent):
                    self._channel.queue_delete(queue=self._reply_queue)
            except Exception as exc:
                log.debug("could not remove queues while closing: %s", exc)
        self._forget_consumer_state()
        if self._reply_slot is not None:
            self._reply_slot.close()  # releases the flock: the next client may take it
            self._reply_slot = None
        with self._state_lock:
            conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            _release(conn)
        self._flush_replies()
        with self._pub_lock:
            if self._pub_conn is not None:
                _release(self._pub_conn)
            self._pub_conn = self._producer = None
        log.debug("closed connection to %s", self.options.display)

    # --- publishing -----------------------------------------------------------------

    def _publish(self, exchange: ExchangeSpec | None, routing_keys: list[str], body: bytes,
                 ttl: int) -> None:
        expiration = self.policy.expiration(ttl)
        with self._pub_lock:
            self._check_publisher(len(routing_keys))
            self._publish_batch([(exchange, key, body, expiration) for key in routing_keys])

    def _check_publisher(self, messages: int = 1) -> None:
        """ConnectionFailed if nothing can be published: closed, or never connected. A
        publisher that lost its connection (``_pub_broken``, its connection maybe gone
        after a failed attempt) is reconnected by the publish itself."""
        if self._closed or (self._pub_conn is None and not self._pub_broken):
            self._count("publish_errors", messages)
            raise ConnectionFailed("the connector is closed" if self._closed
                                   else "not connected")

    def _publish_batch(self, items: list[_Outgoing]) -> None:
        """Publish ``items`` (called with _pub_lock held); if that fails, reconnect the
        publisher and publish them all once more (a client drops duplicate replies),
        then give up with ConnectionFailed."""
        for attempt in (1, 2):
            try:
                if self._pub_broken:
                    self._reconnect_publisher()
                self._send(items)
                self._count("published", len(items))
                return
            except ConnectionFailed:
                self._count("publish_errors", len(items))
                raise
            except Exception as exc:
                if not self._pub_broken:
                    self._count("disconnects")
                self._pub_broken = True
                if attempt == 2:
                    self._count("publish_errors", len(items))
                    raise ConnectionFailed(
                        f"cannot publish to {self.options.display}: "
                        f"{type(exc).__name__}: {exc}") from exc
                log.info("publishing to %s failed (%s); reconnecting the publisher",
                         self.options.display, exc)

    def _send(self, items: list[_Outgoing]) -> None:
        """AMQP: one check of what the broker sent, then every message written in one
        system call (amqp_transport); other transports: kombu's Producer."""
        producer = self._producer
        assert producer is not None
        channel = producer.channel
        for spec in {e.name: e for e, _, _, _ in items if e is not None}.values():
            if spec.name not in self._pub_declared:  # a synchronous call: uncorked
                topology.declare_exchange(channel, spec, self._pub_probe)
                self._pub_declared.add(spec.name)
        if not self.policy.is_amqp:
            for exchange, key, body, expiration in items:
                producer.publish(body, exchange=exchange.name if exchange else "",
                                 routing_key=key, content_type=_CONTENT_TYPE,
                                 content_encoding="binary", delivery_mode=1,
                                 expiration=expiration, retry=False)
            return
        amqp_transport.check_inbound(self._pub_conn)
        transport = amqp_transport.buffered(self._pub_conn)
        if transport is not None:
            transport.cork()
        try:
            for exchange, key, body, expiration in items:
                amqp_transport.publish(channel, exchange.name if exchange else "", key, body,
                                       content_type=_CONTENT_TYPE,
                                       content_encoding="binary", expiration=expiration)
        except BaseException:
            if transport is not None:
                transport.discard()
            raise
        if transport is not None:
            transport.flush()

    def _reconnect_publisher(self) -> None:
        """Called with _pub_lock held. While the broker is down, an attempt costs up
        to ``publish_timeout``: after a failed one, publishes fail at once for a
        jittered, doubling pause (or until the consumer is back, see _rebuild), so
        that a backlog of replies does not take that long each."""
        if time.monotonic() < self._pub_retry_at:
            raise ConnectionFailed(self._pub_error)
        if self._pub_conn is not None:
            _release(self._pub_conn)
        self._pub_conn = self._producer = None
        self._pub_declared.clear()
        deadline = time.monotonic() + max(self.options.publish_timeout, 0.5)
        try:
            conn = self._open(deadline, role="publisher")
        except ConnectionFailed as exc:
            self._pub_error = str(exc)
            self._pub_retry_at = time.monotonic() + backoff(self._pub_delay)
            self._pub_delay = min(self._pub_delay * 2, self.options.max_backoff)
            raise
        self._pub_retry_at, self._pub_delay = 0.0, FIRST_BACKOFF
        self._pub_conn = conn
        self._producer = Producer(conn.channel(), auto_declare=False)
        self._pub_probe = self._new_probe(conn)
        self._pub_broken = False
        self._count("reconnects")

    def _maintain_publisher(self) -> None:
        """Keep an idle AMQP publishing connection alive: read what the broker sent
        (its heartbeats, a connection.close) and send ours."""
        if not self.policy.is_amqp or not self.options.heartbeat:
            return
        if not self._pub_lock.acquire(blocking=False):
            return  # someone is publishing: that is traffic enough
        try:
            conn = self._pub_conn
            if conn is None or self._pub_broken:
                return
            try:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0)
                conn.heartbeat_check()
            except Exception as exc:
                log.info("publishing connection to %s lost (%s); will reconnect",
                         self.options.display, exc)
                self._count("disconnects")
                self._pub_broken = True
        finally:
            self._pub_lock.release()


def _drop(conn: kombu.Connection) -> None:
    """Close a connection's sockets without any protocol goodbye or cleanup."""
    import socket

    transport = conn.__dict__.get("_transport")
    session = getattr(transport, "session", None)
    if transport is not None and session is not None and hasattr(transport, "broker"):
        transport.broker.abandon_session(session)  # filesystem: its lock is freed
        transport.session = None
    sock = getattr(conn.__dict__.get("_connection"), "sock", None)  # py-amqp
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
    for channel in list(getattr(transport, "channels", None) or ()):  # redis
        for attr in ("client", "subclient"):
            client = channel.__dict__.get(attr)
            pool = getattr(client, "connection_pool", None)
            if pool is not None:
                with contextlib.suppress(Exception):
                    pool.disconnect()
            connection = getattr(client, "connection", None)
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.disconnect()


def _release(conn: kombu.Connection) -> None:
    """Close a connection, never raising: it may already be dead."""
    try:
        conn.release()
    except Exception as exc:
        log.debug("error while closing connection: %s", exc)
        with contextlib.suppress(Exception):
            conn.collect()
