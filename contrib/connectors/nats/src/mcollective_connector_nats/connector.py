"""The NATS connector: mcollective's three messaging patterns on core NATS.

nats-py is asyncio; the :class:`~mcollective.connector.Connector` API is called from
ordinary threads. So each connector runs one event loop in a thread of its own
(``mco-nats-io``) that owns the NATS client, and one delivery thread
(``mco-nats-consumer``) that calls ``on_message``:

* received messages are queued by the loop and handed to ``on_message`` by the
  delivery thread, never on the loop: a daemon's handler may block (all workers busy)
  and must not stop the loop that also sends their replies and answers the server's
  PINGs;
* requests are handed to the loop and waited for (an error is the caller's);
  replies are queued and published by the loop in batches (one wake-up of the loop for
  however many replies the workers produced meanwhile), a failure counted and logged;
* subscription changes are applied by the loop, then a PING/PONG round trip makes sure
  the server has them before :meth:`subscribe_node` returns; a subscription the server
  refuses (permissions) is reported as ConnectionFailed.

Idle, nothing runs but the server's and our PINGs (``ping_interval``): the loop waits
in ``epoll`` and the delivery thread on its queue.

Failover: ``plugin.nats.url`` may list several servers. Connecting tries them in turn
until ``connection_timeout``; once connected, a lost connection is re-established by
nats-py (which also subscribes everything again), choosing servers through our
handler: the next server in the list, and after a full round of failures a pause that
doubles from 0.1 s up to ``max_backoff``, jittered, as the kombu connector does. A
daemon keeps trying for ever. Publishes made meanwhile are kept (up to
``pending_size`` bytes) and sent once connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mcollective.connector import Connector, MessageHandler, RelayHandler
from mcollective.errors import ConnectionFailed
from mcollective_connector_nats import subjects
from mcollective_connector_nats.options import NatsOptions, mask

log = logging.getLogger(__name__)

T = TypeVar("T")

#: First pause after a failed round of connection attempts (doubles up to max_backoff).
FIRST_BACKOFF = 0.1
#: How long a subscription change may wait for the loop (it may be reconnecting).
OPERATION_TIMEOUT = 30.0
#: Replies published per loop iteration at most, so the loop also reads meanwhile.
REPLY_BATCH = 512

_STOP = object()


def backoff(delay: float) -> float:
    """A pause of about ``delay`` seconds: uniformly jittered in [delay/2, delay]."""
    return random.uniform(delay / 2, delay)


@dataclass(frozen=True)
class NodeSubscription:
    collectives: tuple[str, ...]
    agents: frozenset[str]


@dataclass(frozen=True)
class _Relay:
    """A federation broker's subscription: every request of a collective
    (``C.broadcast.agent.*`` and ``C.node.>``) or every reply to its clients
    (``C.reply.>``)."""

    kind: str  # "requests" or "replies"
    collective: str
    handler: RelayHandler = field(compare=False)

    def subjects(self) -> list[str]:
        c = self.collective
        if self.kind == "requests":
            return [f"{c}.broadcast.agent.*", f"{c}.node.>"]
        return [f"{c}.reply.>"]

    def route(self, subject: str) -> str | None:
        if self.kind == "replies":
            return subject
        prefix = f"{self.collective}.node."
        return subject[len(prefix):] if subject.startswith(prefix) else None


@dataclass(frozen=True)
class _Routed:
    relay: _Relay
    subject: str


#: Where a received message goes: a node identity (direct), ``None`` (this client's
#: replies), a (collective, agent) broadcast, fanned out to the identities hosting it,
#: or a federation relay.
Target = str | None | tuple[str, str] | _Relay


class NatsConnector(Connector):
    """A :class:`mcollective.connector.Connector` over NATS (see module docstring)."""

    def __init__(self, options: NatsOptions) -> None:
        super().__init__()
        self.options = options
        self.stats = {"published": 0, "publish_errors": 0, "received": 0,
                      "handler_errors": 0, "reconnects": 0, "disconnects": 0,
                      "failovers": 0, "refused": 0}
        self._stats_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._desired: dict[str, NodeSubscription] = {}
        self._hosting: dict[tuple[str, str], tuple[str, ...]] = {}
        self._reply_subject: str | None = None
        self._relays: list[_Relay] = []
        # Loop side (touched on the loop only).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._io_thread: threading.Thread | None = None
        self._nc: Any = None
        self._subs: dict[str, Any] = {}  # subject -> nats-py Subscription
        self._server_index = 0
        self._round_failures = 0
        self._delay = FIRST_BACKOFF
        self._current: str | None = None
        self._refusals: list[str] = []  # permission errors the server sent
        # Replies waiting for the loop.
        self._outbox: list[tuple[str, bytes]] = []
        self._outbox_lock = threading.Lock()
        self._tasks: set[asyncio.Future[None]] = set()
        # Delivery.
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._on_message: MessageHandler | None = None
        self._consumer: threading.Thread | None = None
        self._closed = False
        self._connected = False

    # --- the event loop -------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=self._run_loop, args=(loop,),
                                      name="mco-nats-io", daemon=True)
            self._loop, self._io_thread = loop, thread
            thread.start()
        return self._loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run ``coro`` on the loop and wait for its result (from another thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise ConnectionFailed("the connector is closed")
        if threading.current_thread() is self._io_thread:
            coro.close()
            raise RuntimeError("NatsConnector called from its own event loop")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise ConnectionFailed(
                f"{self.options.display} did not answer within {timeout:g}s") from None

    # --- Connector API --------------------------------------------------------------

    def connect(self, *, timeout: float | None = None) -> None:
        """Connect to the first server that answers, or raise ConnectionFailed (naming
        the servers, passwords masked) once ``timeout`` seconds have passed."""
        if self._closed:
            raise ConnectionFailed("this connector was closed; create a new one")
        if self._connected:
            return
        timeout = self.options.connect_timeout if timeout is None else timeout
        self._ensure_loop()
        # math.inf (a node): keep trying until it works or close() is called.
        self._call(self._connect(time.monotonic() + timeout),
                   None if math.isinf(timeout) else timeout + 10)
        self._connected = True
        log.info("connected to %s", mask(self._current or self.options.display))

    def subscribe_node(self, identity: str, collectives: Iterable[str],
                       agents: Iterable[str]) -> None:
        subjects.check_token(identity, "identity")
        wanted = NodeSubscription(tuple(dict.fromkeys(collectives)), frozenset(agents))
        self._change(identity, wanted if wanted.collectives else None)

    def unsubscribe_node(self, identity: str) -> None:
        self._change(identity, None)

    def subscribe_replies(self) -> str:
        self._require_connection()
        with self._state_lock:
            if self._reply_subject is None:
                self._reply_subject = subjects.reply(
                    self.options.main_collective, self.options.account,
                    self.options.identity)
            subject = self._reply_subject
        self._call(self._apply(), OPERATION_TIMEOUT)
        return subject

    def start(self, on_message: MessageHandler) -> None:
        self._require_connection()
        with self._state_lock:
            if self._consumer is not None:
                raise RuntimeError("already started")
            self._on_message = on_message
            self._consumer = threading.Thread(target=self._deliver, name="mco-nats-consumer",
                                              daemon=True)
            self._consumer.start()

    def publish_request(self, body: bytes, *, collective: str, agent: str, ttl: int,
                        targets: Sequence[str] | None = None) -> None:
        if targets is None:
            names = [subjects.broadcast(collective, agent)]
        else:
            names = [subjects.direct(collective, t) for t in targets]
        if not names:
            return
        self._check_publisher(len(names))
        try:
            self._call(self._publish_all([(n, body) for n in names]),
                       max(self.options.publish_timeout, 1.0))
        except ConnectionFailed:
            self._count("publish_errors", len(names))
            raise

    def publish_reply(self, body: bytes, reply_to: str, *, ttl: int) -> None:
        """Queue a reply for the loop, which publishes whatever is queued in one go:
        a daemon answers from many worker threads at once. Failures are logged and
        counted (``publish_errors``); the reply is lost as a network would lose it."""
        self._check_publisher()
        loop = self._loop
        assert loop is not None
        with self._outbox_lock:
            first = not self._outbox
            self._outbox.append((reply_to, body))
        if first:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._schedule_replies)

    def close(self) -> None:
        """Publish queued replies, disconnect, and stop both threads."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        if threading.current_thread() in (self._consumer, self._io_thread):
            # Called from on_message: finish from another thread once this one is out.
            threading.Thread(target=self._finish_close, name="mco-nats-close",
                             daemon=True).start()
            return
        self._finish_close()

    def _finish_close(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._disconnect(), loop)
            try:
                future.result(max(5.0, 2 * self.options.publish_timeout))
            except Exception as exc:
                log.debug("closing the NATS connection: %s", exc)
            self._stop_threads()

    def _stop_threads(self) -> None:
        self._inbox.put(_STOP)
        consumer = self._consumer
        if consumer is not None and consumer is not threading.current_thread():
            consumer.join(5)
        loop, thread = self._loop, self._io_thread
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
        self._connected = False

    def abandon(self) -> None:
        """Stop as a killed process would: the socket just drops, nothing is
        unsubscribed or flushed. For crash tests (the connector contract)."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._drop(), loop)
            with contextlib.suppress(Exception):
                future.result(5)
        with self._outbox_lock:
            self._outbox.clear()
        self._stop_threads()

    def describe(self) -> dict[str, Any]:
        with self._state_lock:
            nodes = {identity: {"collectives": list(sub.collectives),
                                "agents": sorted(sub.agents)}
                     for identity, sub in self._desired.items()}
            reply = self._reply_subject
        nc = self._nc
        return {
            "connector": "nats",
            "url": self.options.display,
            "broker": mask(self._current) if self._current else None,
            "account": self.options.account,
            "connected": bool(nc is not None and nc.is_connected and not self._closed),
            "consuming": self._consumer is not None and self._consumer.is_alive(),
            "reply_subject": reply,
            "nodes": nodes,
            "subscriptions": len(self._subs),
            "stats": dict(self.stats),
        }

    # --- helpers used from callers' threads -----------------------------------------

    def _require_connection(self) -> None:
        if self._closed:
            raise ConnectionFailed("the connector is closed")
        if not self._connected:
            raise ConnectionFailed("not connected; call connect() first")

    def _check_publisher(self, messages: int = 1) -> None:
        if self._closed or not self._connected:
            self._count("publish_errors", messages)
            raise ConnectionFailed("the connector is closed" if self._closed
                                   else "not connected")

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def _change(self, identity: str, wanted: NodeSubscription | None) -> None:
        self._require_connection()
        with self._state_lock:
            previous = self._desired.get(identity)
            self._set_desired(identity, wanted)
        try:
            self._call(self._apply(), OPERATION_TIMEOUT)
        except ConnectionFailed as exc:
            if "refused" not in str(exc):
                raise
            with self._state_lock:
                self._set_desired(identity, previous)
            with contextlib.suppress(Exception):
                self._call(self._apply(), OPERATION_TIMEOUT)
            raise ConnectionFailed(f"{exc} (subscriptions of {identity})") from exc

    def _set_desired(self, identity: str, wanted: NodeSubscription | None) -> None:
        if wanted is None:
            self._desired.pop(identity, None)
        else:
            self._desired[identity] = wanted
        hosting: dict[tuple[str, str], list[str]] = {}
        for ident, sub in self._desired.items():
            for collective in sub.collectives:
                for agent in sub.agents:
                    hosting.setdefault((collective, agent), []).append(ident)
        self._hosting = {k: tuple(v) for k, v in hosting.items()}

    def _wanted_subjects(self) -> dict[str, Target]:
        with self._state_lock:
            wanted: dict[str, Target] = {}
            for identity, sub in self._desired.items():
                for collective in sub.collectives:
                    wanted[subjects.direct(collective, identity)] = identity
            for collective, agent in self._hosting:
                wanted[subjects.broadcast(collective, agent)] = (collective, agent)
            if self._reply_subject is not None:
                wanted[self._reply_subject] = None
            for relay in self._relays:
                for subject in relay.subjects():
                    wanted[subject] = relay
        return wanted

    def relay_requests(self, collective: str, handler: RelayHandler) -> None:
        self._add_relay(_Relay("requests", collective, handler))

    def relay_replies(self, collective: str, handler: RelayHandler) -> None:
        self._add_relay(_Relay("replies", collective, handler))

    def _add_relay(self, relay: _Relay) -> None:
        self._require_connection()
        with self._state_lock:
            self._relays.append(relay)
        self._call(self._apply(), OPERATION_TIMEOUT)

    # --- delivery -------------------------------------------------------------------

    def _deliver(self) -> None:
        """The delivery thread: blocks on the queue, hands messages to on_message."""
        inbox = self._inbox
        while True:
            item = inbox.get()
            if item is _STOP:
                return
            body, target = item
            if isinstance(target, _Routed):
                try:
                    target.relay.handler(body, target.relay.route(target.subject))
                except Exception:
                    self._count("handler_errors")
                    log.exception("federation handler failed for a message on %s",
                                  target.subject)
                continue
            if isinstance(target, tuple):
                with self._state_lock:
                    identities: tuple[str | None, ...] = self._hosting.get(target, ())
            else:
                identities = (target,)
            handler = self._on_message
            if handler is None:
                continue
            for identity in identities:
                try:
                    handler(body, identity)
                except Exception:
                    self._count("handler_errors")
                    log.exception("message handler failed for a message to %s",
                                  identity or "the reply subject")

    # --- on the loop ----------------------------------------------------------------

    async def _connect(self, deadline: float) -> None:
        import nats.aio.client

        servers = self.options.servers
        last: BaseException | None = None
        delay = FIRST_BACKOFF
        attempts = 0
        forever = math.isinf(deadline)
        while True:
            index = self._server_index % len(servers)
            ordered = list(servers[index:] + servers[:index])
            remaining = deadline - time.monotonic()
            attempt = max(min(remaining, self.options.connect_timeout), 0.05)
            nc = nats.aio.client.Client()
            try:
                await asyncio.wait_for(nc.connect(**self._client_options(ordered, attempt)),
                                       attempt + 1)
                nc.options["allow_reconnect"] = True
                nc.options["max_reconnect_attempts"] = -1
                self._nc = nc
                self._current = ordered[0]
                return
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                last = exc
                log.debug("connecting to %s failed: %s", mask(ordered[0]), exc)
                await _abandon_attempt(nc)
            attempts += 1
            self._server_index += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                break
            if attempts % len(servers) == 0:
                if forever and attempts == len(servers):  # once, not per attempt
                    log.warning("cannot reach %s (%s); trying again until it answers, "
                                "pausing up to %gs between attempts", self.options.display,
                                _describe_error(last) if last else "timed out",
                                self.options.max_backoff)
                await asyncio.sleep(min(backoff(delay), remaining))
                delay = min(delay * 2, self.options.max_backoff)
        reason = _describe_error(last) if last else "timed out"
        raise ConnectionFailed(f"cannot connect to {self.options.display}: {reason}")

    def _client_options(self, servers: list[str], timeout: float) -> dict[str, Any]:
        opts = self.options
        out: dict[str, Any] = {
            "servers": servers,
            "name": f"mcollective {opts.identity}",
            "dont_randomize": True,
            "allow_reconnect": False,  # for this attempt; on once connected
            "connect_timeout": max(1, int(min(timeout, 30) + 0.999)),
            "ping_interval": opts.ping_interval,
            "max_outstanding_pings": 2,
            "pending_size": opts.pending_size,
            "reconnect_to_server_handler": self._next_server,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            "error_cb": self._on_error,
            "closed_cb": self._on_closed,
        }
        if opts.tls is not None:
            out["tls"] = opts.tls.context()
            out["tls_hostname"] = urlsplit(servers[0]).hostname
        if opts.token:
            out["token"] = opts.token
        if opts.credentials:
            out["user_credentials"] = opts.credentials
        elif opts.nkey_seed:
            out["nkeys_seed"] = opts.nkey_seed
        return out

    def _next_server(self, servers: list[Any], info: dict[str, Any]) -> tuple[Any, float]:
        """nats-py asks before each reconnection attempt: the next server of our
        list, and after a full round of failures a jittered, doubling pause."""
        delay = 0.0
        if self._round_failures and self._round_failures % max(len(servers), 1) == 0:
            delay = backoff(self._delay)
            self._delay = min(self._delay * 2, self.options.max_backoff)
        self._round_failures += 1
        chosen = servers[self._server_index % len(servers)] if servers else None
        self._server_index += 1
        return chosen, delay

    async def _on_disconnected(self) -> None:
        if not self._closed:
            self._count("disconnects")
            log.warning("connection to %s lost; reconnecting",
                        mask(self._current or self.options.display))

    async def _on_reconnected(self) -> None:
        nc = self._nc
        url = nc.connected_url.geturl() if nc is not None and nc.connected_url else None
        self._round_failures, self._delay = 0, FIRST_BACKOFF
        self._count("reconnects")
        if url and self._current and urlsplit(url).netloc.rpartition("@")[2] != \
                urlsplit(self._current).netloc.rpartition("@")[2]:
            self._count("failovers")
            log.warning("failed over to %s", mask(url))
            self._current = next((s for s in self.options.servers
                                  if urlsplit(s).netloc.rpartition("@")[2]
                                  == urlsplit(url).netloc.rpartition("@")[2]), url)
        log.info("reconnected to %s", mask(self._current or self.options.display))

    async def _on_error(self, exc: Exception) -> None:
        text = str(exc)
        if "permissions violation" in text.lower():  # nats-py lower-cases it
            self._count("refused")
            self._refusals.append(text)
            log.error("%s refused: %s", self.options.display, text)
        else:
            log.debug("NATS error: %s", _describe_error(exc))

    async def _on_closed(self) -> None:
        log.debug("NATS connection closed")

    async def _apply(self) -> None:
        """Make the subscriptions match the desired state; then a round trip, after
        which the server has them (or has refused some)."""
        nc = self._nc
        if nc is None or nc.is_closed:
            raise ConnectionFailed("the connector is closed")
        wanted = self._wanted_subjects()
        for subject in [s for s in self._subs if s not in wanted]:
            sub = self._subs.pop(subject)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        refusals = len(self._refusals)
        added = []
        for subject, target in wanted.items():
            if subject in self._subs:
                continue
            self._subs[subject] = await nc.subscribe(subject, cb=self._callback(target),
                                                     pending_msgs_limit=-1,
                                                     pending_bytes_limit=-1)
            added.append(subject)
        if not nc.is_connected:
            return  # replayed by nats-py once reconnected
        try:
            # Twice: nats-py writes a flush's PING straight to the socket, ahead of
            # the SUBs still in its pending buffer (sent right after), so the first
            # PONG may come before the server's -ERR for a refused SUB; the second
            # PING follows the SUBs on the wire, and so does its PONG.
            for _ in range(2):
                await nc.flush(timeout=max(2, int(self.options.publish_timeout * 2)))
        except Exception as exc:
            log.warning("%s did not confirm our subscriptions (%s); they are sent again "
                        "when reconnecting", self.options.display, _describe_error(exc))
            return
        refused = [r for r in self._refusals[refusals:]
                   if "subscription" in r and any(f'"{s.lower()}"' in r for s in added)]
        if refused:
            for subject in added:
                if any(f'"{subject.lower()}"' in r for r in refused):
                    sub = self._subs.pop(subject, None)
                    if sub is not None:
                        with contextlib.suppress(Exception):
                            await sub.unsubscribe()
            raise ConnectionFailed(f"{self.options.display} refused: {refused[0]}")

    def _callback(self, target: Target) -> Callable[[Any], Coroutine[Any, Any, None]]:
        inbox, stats, lock = self._inbox, self.stats, self._stats_lock

        if isinstance(target, _Relay):
            relay = target

            async def on_relayed(msg: Any) -> None:
                with lock:
                    stats["received"] += 1
                inbox.put((msg.data, _Routed(relay, msg.subject)))

            return on_relayed

        async def on_msg(msg: Any) -> None:
            with lock:
                stats["received"] += 1
            inbox.put((msg.data, target))

        return on_msg

    async def _publish_all(self, items: list[tuple[str, bytes]]) -> None:
        nc = self._nc
        if nc is None:
            raise ConnectionFailed("not connected")
        try:
            for subject, body in items:
                await nc.publish(subject, body)
        except Exception as exc:
            raise ConnectionFailed(f"cannot publish to {self.options.display}: "
                                   f"{_describe_error(exc)}") from exc
        self._count("published", len(items))

    def _schedule_replies(self) -> None:
        # Referenced until done: the loop keeps only weak references to tasks.
        task = asyncio.ensure_future(self._publish_replies())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish_replies(self) -> None:
        while True:
            with self._outbox_lock:
                batch, self._outbox = self._outbox[:REPLY_BATCH], self._outbox[REPLY_BATCH:]
            if not batch:
                return
            nc = self._nc
            sent = 0
            try:
                if nc is None:
                    raise ConnectionFailed("not connected")
                for subject, body in batch:
                    await nc.publish(subject, body)
                    sent += 1
            except Exception as exc:
                self._count("publish_errors", len(batch) - sent)
                log.warning("could not publish %d repl%s to %s: %s", len(batch) - sent,
                            "y" if len(batch) - sent == 1 else "ies",
                            ", ".join(sorted({s for s, _ in batch})[:3]),
                            _describe_error(exc))
            self._count("published", sent)
            await asyncio.sleep(0)  # let the reader run between batches

    async def _disconnect(self) -> None:
        await self._publish_replies()
        nc = self._nc
        if nc is None:
            return
        try:
            if nc.is_connected:
                with contextlib.suppress(Exception):
                    await nc.flush(timeout=max(1, int(self.options.publish_timeout)))
            await nc.close()
        finally:
            self._nc = None
            self._subs.clear()

    async def _drop(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None:
            return
        nc.options["allow_reconnect"] = False
        transport = getattr(nc, "_transport", None)
        writer = getattr(transport, "_io_writer", None)
        raw = getattr(writer, "transport", None)
        if raw is not None:
            raw.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 2)
        self._subs.clear()


async def _abandon_attempt(nc: Any) -> None:
    """Close a client whose connection attempt failed, without waiting long: nats-py's
    close() can hang on a connection that never completed (a failed TLS handshake)."""
    nc.options["allow_reconnect"] = False
    task = asyncio.ensure_future(nc.close())
    done, _ = await asyncio.wait({task}, timeout=1.0)
    if not done:
        task.cancel()
    elif not task.cancelled() and task.exception() is not None:
        log.debug("closing a failed attempt: %s", task.exception())


def _describe_error(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError) or type(exc).__name__ == "TimeoutError":
        return f"TimeoutError: {text}" if str(exc) else "timed out"
    return f"{type(exc).__name__}: {text}"
