"""The embedded filesystem transport: kombu's virtual transport over :mod:`.fsbroker`.

A zero-setup broker for daemons and clients on one machine: no server to install, no
message lost, queues of dead processes removed, replies within milliseconds.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Fanout: Yes
* Supports Priority: No
* Supports TTL: No (message bodies carry their own TTL; stale requests are dropped
  by the receiving node)
* Several processes on one machine: Yes (bindings and exchange types are files)
* Auto-delete / exclusive queues: Yes, removed when their last owning process closes
  its connection or dies (the janitor checks an ``flock`` held by each process)

Connection String
=================
Not used directly: pass the class, ``kombu.Connection(transport=Transport,
transport_options={'root': '/path/to/broker'})``. In mcollective configuration it is
``plugin.kombu.url = filesystem:///path/to/broker`` (``filesystem://`` alone means
``<statedir>/broker``).

Transport Options
=================
* ``root``: the broker directory (required); created if missing.
* ``polling_interval``: seconds between re-checks of every consumed queue. Deliveries
  do not wait for it: a publisher rings the consumer's doorbell (a FIFO) and the
  consumer wakes at once; polling only catches a ring that was missed. Default 0.1
  here; the connector passes its own (5 s, see options.DEFAULT_POLLING_INTERVAL).
* ``janitor_interval``: seconds between sweeps for queues of dead processes (also
  run on connect); 0 disables the janitor for this connection. Default 5.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import time
from collections.abc import Iterator
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import virtual
from kombu.utils.json import dumps, loads

from mcollective_connector_kombu.delivery_tags import CountedDeliveryTags
from mcollective_connector_kombu.fsbroker import FsBroker, FsBrokerError, Session, decode_name
from mcollective_connector_kombu.malformed import MalformedGuard, report_malformed

log = logging.getLogger(__name__)

#: Messages delivered from one queue before the next queue gets a turn.
BATCH = 64
#: Bytes read from the doorbell at once that mean it may have been full (a FIFO holds
#: 64 KB on Linux; a ring that found it full was dropped by the publisher).
BELL_FULL = 60000


class Channel(MalformedGuard, CountedDeliveryTags, virtual.Channel):
    """A channel whose queues, bindings and exchange types live in :class:`FsBroker`."""

    supports_fanout = True
    connection: Transport

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._topic_patterns: dict[str, str] = {}

    @property
    def broker(self) -> FsBroker:
        return self.connection.broker

    # --- exchanges ----------------------------------------------------------------

    def exchange_declare(self, exchange: str | None = None, type: str = "direct",
                         durable: bool = False, auto_delete: bool = False,
                         arguments: dict[str, Any] | None = None, nowait: bool = False,
                         passive: bool = False) -> None:
        type = type or "direct"
        name = exchange or f"amq.{type}"
        if passive:
            if name not in self.state.exchanges and self.broker.exchange_type(name) is None:
                raise ChannelError(f"NOT_FOUND - no exchange {name!r}", (50, 10),
                                   "Channel.exchange_declare", "404")
            return
        super().exchange_declare(name, type, durable, auto_delete, arguments, nowait)
        with _as_channel_error():
            self.broker.declare_exchange(name, type)

    def typeof(self, exchange: str, default: str = "direct") -> Any:
        """The exchange's type: declared here, else as recorded by whoever declared it
        (so a publisher that never declared the exchange still routes correctly)."""
        try:
            kind = self.state.exchanges[exchange]["type"]
        except KeyError:
            kind = self.connection.persisted_exchange_type(exchange) or default
        return self.exchange_types[kind]

    # --- queues -------------------------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        owned = bool(kwargs.get("exclusive") or kwargs.get("auto_delete"))
        session = self.connection.ensure_session() if owned else None
        with _as_channel_error():
            self.broker.declare_queue(queue, owner=session.token if session else None,
                                      exclusive=bool(kwargs.get("exclusive")))
        if session is not None:
            session.owned.add(queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return self.broker.has_queue(queue)

    def _size(self, queue: str) -> int:
        return self.broker.size(queue)

    def _purge(self, queue: str) -> int:
        return self.broker.purge(queue)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.broker.delete_queue(queue)

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> None:
        """Delete the queue with every binding it has, whoever made them (the stock
        virtual channel only removes bindings this process declared)."""
        if if_empty and self._size(queue):
            return
        self.broker.delete_queue(queue)
        self.state.queue_bindings_delete(queue)
        self.connection.forget_queue(queue)

    # --- bindings -----------------------------------------------------------------

    def queue_bind(self, queue: str, exchange: str | None = None, routing_key: str = "",
                   arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
        exchange = exchange or "amq.direct"
        with _as_channel_error():
            self.broker.bind(exchange, routing_key or "", queue)
        self.state.binding_declare(queue, exchange, routing_key, arguments)

    def queue_unbind(self, queue: str, exchange: str | None = None, routing_key: str = "",
                     arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
        exchange = exchange or "amq.direct"
        self.broker.unbind(exchange, routing_key or "", queue)
        self.state.binding_delete(queue, exchange, routing_key)

    def get_table(self, exchange: str) -> list[tuple[str, str | None, str]]:
        prepare = self.typeof(exchange).prepare_bind
        return [prepare(queue, exchange, key, None)
                for key, queue in self.broker.bindings(exchange)]

    def list_bindings(self) -> Any:
        return ((queue, exchange, key)
                for exchange in self.state.exchanges
                for key, _, queue in self.get_table(exchange))

    def _lookup(self, exchange: str, routing_key: str, default: str | None = None
                ) -> list[str]:
        if not exchange:
            return [routing_key]
        return self.broker.lookup(exchange, routing_key, self.typeof(exchange).type,
                                  self._topic_match)

    def _topic_match(self, binding_key: str, routing_key: str) -> bool:
        topic: Any = self.exchange_types["topic"]
        pattern = self._topic_patterns.get(binding_key)
        if pattern is None:
            pattern = self._topic_patterns[binding_key] = topic.key_to_pattern(binding_key)
        return bool(topic._match(pattern, routing_key))

    # --- messages -----------------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self.broker.put(queue, dumps(message).encode())

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        data = dumps(message).encode()
        for queue in self._lookup(exchange, routing_key):
            self.broker.put(queue, data)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        payload = self.connection.claim(queue)
        if payload is None:
            raise Empty()
        return payload

    # --- consuming ----------------------------------------------------------------

    def basic_consume(self, queue: str, no_ack: bool, callback: Any, consumer_tag: str,
                      **kwargs: Any) -> Any:
        result = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        try:
            self.connection.watch(queue)
        except BaseException:
            super().basic_cancel(consumer_tag)
            raise
        return result

    def basic_cancel(self, consumer_tag: str) -> Any:
        queue = self._tag_to_queue.get(consumer_tag)
        result = super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self.connection._callbacks:
            self.connection.unwatch(queue)
        return result


class Transport(virtual.Transport):
    """One connection to a filesystem broker: at most one session, its doorbell, and
    the consuming loop that waits on it."""

    Channel = Channel

    driver_type = "filesystem"
    driver_name = "mcollective-filesystem"
    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(["direct", "topic", "fanout"]),
        heartbeats=False,
    )
    # Filesystem failures (disk full, permissions, a vanished root) are this
    # transport's connection errors; refusals by the broker are channel errors.
    connection_errors: Any = (*virtual.Transport.connection_errors, OSError)
    channel_errors: Any = (ChannelError,)

    polling_interval = 0.1
    janitor_interval = 5.0

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        options = client.transport_options
        root = options.get("root")
        if not root:
            raise ValueError("the filesystem transport needs transport_options['root']")
        self.broker = FsBroker(root)
        self.janitor_interval = float(options.get("janitor_interval", self.janitor_interval))
        self.session: Session | None = None
        self._dirty: dict[str, None] = {}  # queues that may have messages, in order
        self._bell_buffer = b""
        self._exchange_types: dict[str, str] = {}
        self._next_rescan = 0.0
        self._next_janitor = 0.0
        self._wake_pending = False

    def driver_version(self) -> str:
        return "1"

    # --- connection lifecycle -------------------------------------------------------

    def establish_connection(self) -> Any:
        self.broker.ensure_layout()
        if self.janitor_interval:
            self._run_janitor(time.monotonic(), first=True)
        return super().establish_connection()

    def close_connection(self, connection: Any) -> None:
        try:
            super().close_connection(connection)
        finally:
            if self.session is not None:
                self.broker.close_session(self.session)
                self.session = None

    def ensure_session(self) -> Session:
        if self.session is None:
            self.session = self.broker.open_session()
        return self.session

    def persisted_exchange_type(self, exchange: str) -> str | None:
        kind = self._exchange_types.get(exchange)
        if kind is None and exchange:
            kind = self.broker.exchange_type(exchange)
            if kind is not None:
                self._exchange_types[exchange] = kind
        return kind

    # --- what the channels tell us ---------------------------------------------------

    def watch(self, queue: str) -> None:
        """A queue is being consumed: point its doorbell at us and look into it."""
        with _as_channel_error():
            self.broker.set_bell(queue, self.ensure_session())
        self._dirty[queue] = None

    def unwatch(self, queue: str) -> None:
        if self.session is not None:
            self.broker.clear_bell(queue, self.session)
        self._dirty.pop(queue, None)

    def forget_queue(self, queue: str) -> None:
        self._dirty.pop(queue, None)
        self.broker.forget(queue)
        if self.session is not None:
            self.session.owned.discard(queue)

    def claim(self, queue: str) -> dict[str, Any] | None:
        """The next message of ``queue`` as kombu's payload dict, skipping (and
        logging) any file that is not a message."""
        while True:
            data = self.broker.claim(queue)
            if data is None:
                return None
            try:
                payload = loads(data)
                if not isinstance(payload, dict):
                    raise TypeError(f"a JSON {type(payload).__name__}")
                return payload
            except Exception as exc:  # kombu's object hooks raise more than ValueError
                channel = next(iter(self.channels), None)
                if channel is not None:
                    report_malformed(channel, queue,
                                     f"not a kombu envelope ({type(exc).__name__})")
                else:
                    log.warning("discarded a malformed message file in queue %s", queue)

    # --- the consuming loop ---------------------------------------------------------

    def drain_events(self, connection: Any, timeout: float | None = None,
                     **kwargs: Any) -> None:
        """Deliver what is waiting, else wait on the doorbell; raise TimeoutError
        when ``timeout`` passes without a delivery."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if now >= self._next_rescan:
                self._dirty.update(dict.fromkeys(self._callbacks))
                self._next_rescan = now + self.polling_interval
            if self._dirty and self._deliver_dirty():
                return
            if self.janitor_interval and now >= self._next_janitor:
                self._run_janitor(now)
            now = time.monotonic()
            wait = max(0.0, self._next_rescan - now)
            if deadline is not None:
                if now >= deadline:
                    raise TimeoutError()
                wait = min(wait, deadline - now)
            if self._wait(wait):
                raise TimeoutError()  # woken by our own process: let it act now

    def _deliver_dirty(self) -> int:
        delivered = 0
        for queue in list(self._dirty):
            if queue not in self._callbacks:
                self._dirty.pop(queue, None)
                continue
            for _ in range(BATCH):
                payload = self.claim(queue)
                if payload is None:
                    self._dirty.pop(queue, None)
                    break
                self._deliver(payload, queue)
                delivered += 1
                if queue not in self._callbacks:  # cancelled by the callback
                    break
        return delivered

    def _wait(self, seconds: float) -> bool:
        """Wait for the doorbell; True when our own process rang it (:meth:`wake`)."""
        # A session (and its doorbell) even before anything is consumed, so that
        # wake() can interrupt this wait however long it is.
        session = self.ensure_session()
        if self._wake_pending:
            self._wake_pending = False
            return True
        if session.bell_fd < 0:  # pragma: no cover - sessions always have a doorbell
            time.sleep(min(seconds, 0.1))
            return False
        readable, _, _ = select.select([session.bell_fd], [], [], seconds)
        if not readable:
            return False
        rung = session.read_bell()
        if len(rung) >= BELL_FULL:
            # The FIFO may have filled up and refused rings: look into every queue.
            self._dirty.update(dict.fromkeys(self._callbacks))
        data = self._bell_buffer + rung
        lines = data.split(b"\n")
        self._bell_buffer = lines.pop()
        woken = False
        for line in lines:
            if line:
                queue = decode_name(line.decode(errors="replace"))
                if queue in self._callbacks:
                    self._dirty[queue] = None
            else:
                woken = True
        if woken:
            self._wake_pending = False
        return woken

    def wake(self) -> None:
        """Interrupt a wait in :meth:`drain_events` from another thread (the flag
        covers a wait that has not opened its session yet)."""
        self._wake_pending = True
        session = self.session
        if session is not None:
            session.ring_self()

    def _run_janitor(self, now: float, *, first: bool = False) -> None:
        # Spread the sweeps of many processes apart; on connect always sweep (a
        # restarted daemon cleans up after its predecessor at once), afterwards skip
        # when another process swept recently.
        self._next_janitor = now + self.janitor_interval * random.uniform(0.8, 1.2)
        if self.session is not None:
            self.broker.refresh_session(self.session)
        try:
            self.broker.sweep(min_interval=0 if first else self.janitor_interval / 2)
        except OSError as exc:
            log.warning("filesystem broker janitor failed: %s", exc)


@contextlib.contextmanager
def _as_channel_error() -> Iterator[None]:
    """Report the broker's refusals as kombu channel errors, as a real broker would."""
    try:
        yield
    except FsBrokerError as exc:
        raise ChannelError(str(exc)) from exc
