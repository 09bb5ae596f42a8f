"""kombu's stock ``memory://``, ``redis://`` and ``sqs://`` transports, adapted so that
what this connector relies on is true (see ``../shared/reference/kombu-transports.md``
for the measured behaviour that motivates each change).

memory
    In ``memory_transport`` (re-exported here), which does not need redis-py.

redis
    * Broadcast is PUB/SUB (fanout exchanges), so a dead node accumulates nothing.
      Fanout bindings are kept in the process only (the publisher of a fanout never
      reads a binding table, so writing one to Redis would only leave litter behind
      after a crash), and a consumer is subscribed *before* ``basic_consume`` returns:
      kombu would send PSUBSCRIBE only at the next poll, and a broadcast published
      in between would be lost to that node.
    * Direct and reply queues are lists, published to through the default exchange,
      and only if the list has a live owner: every process registers the lists it
      declares in the hash ``_mco.owners`` (list -> session) and keeps a liveness key
      ``_mco.session.<session>`` alive. A publish to a list nobody owns is dropped,
      so a dead or unknown node never gets a list re-created by a publisher.
    * :func:`sweep_redis` (the janitor) deletes the lists whose owner's liveness key
      has expired: what a ``kill -9`` leaves behind.
    * Each put also makes the list live at least as long as the message's TTL and no
      longer than needed, so even an owned list nobody reads drains by itself.

sqs
    * A queue may be bound to several fanout exchanges (one SNS topic per agent);
      kombu subscribes a queue to the first one only, at consume time. Here each
      bind subscribes, each unbind unsubscribes, and delete removes them all.
    * A put to a queue that does not exist is dropped instead of creating the queue
      (kombu's ``_put`` creates it), so addressing a node that is gone leaves nothing.
    * SQS never removes a queue by itself, so every queue a process owns is tagged
      ``mco-owner=<marker>``, the name of that process's *marker queue*, which holds
      one lease message the process keeps in flight (:class:`SqsLease`); the janitor
      (:class:`SqsJanitor`) removes the queues, and their SNS subscriptions, of
      markers whose lease message has become visible again: what a ``kill -9`` leaves.
    * kombu looks for a topic's stale subscriptions (a ``GetQueueUrl`` per subscriber)
      at every bind; here once per topic and channel, or an emulator binding thousands
      of queues would make a quadratic number of calls.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from queue import Empty
from typing import Any

from kombu.transport import redis
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from mcollective_connector_kombu.delivery_tags import CountedDeliveryTags
from mcollective_connector_kombu.malformed import MalformedGuard, report_malformed
from mcollective_connector_kombu.memory_transport import MemoryChannel, MemoryTransport

__all__ = ["MemoryChannel", "MemoryTransport"]  # re-exported, see memory_transport

log = logging.getLogger(__name__)


# --- redis ------------------------------------------------------------------------------

#: Hash: list name -> session that owns it.
OWNERS_KEY = "_mco.owners"
#: String with a TTL, renewed by the owning process while it lives.
SESSION_KEY = "_mco.session.{}"
#: Held by whichever process sweeps, so that a thousand daemons do not all sweep.
JANITOR_LOCK = "_mco.janitor"
#: Declares a queue as a PUB/SUB subscription (no list, no owner entry).
PUBSUB_ARGUMENT = "x-mco-pubsub"

#: LPUSH only to a list that has an owner, then make the list live at least as long as
#: the message's TTL (never shortening it). Returns 1 if delivered.
PUT_IF_OWNED = """
if redis.call('HEXISTS', KEYS[2], KEYS[1]) == 0 then
    return 0
end
redis.call('LPUSH', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"""

#: Renew a session's liveness key; 0 if it had already expired (the janitor may have
#: swept our lists: the caller declares them again).
RENEW_SESSION = """
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'XX') then
    return 1
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 0
"""

#: Delete a list only if it still belongs to the dead session (not to a newcomer that
#: declared the same name since).
DELETE_IF_OWNER = """
if redis.call('HGET', KEYS[2], KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('HDEL', KEYS[2], KEYS[1])
    return 1
end
return 0
"""


class RedisQoS(redis.QoS):
    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to restore: every consumer of ours is ``no_ack``, so no message is
        ever left unacknowledged. kombu would take a mutex key and scan an index every
        few polls (and an ACL account would need rights to those keys)."""


class RedisChannel(MalformedGuard, CountedDeliveryTags, redis.Channel):
    """See the module docstring (redis)."""

    QoS = RedisQoS

    #: Our own transport options (the session id and liveness timeout in ms).
    from_transport_options = (*redis.Channel.from_transport_options,  # type: ignore[assignment]
                              "mco_session", "mco_liveness_ms")
    mco_session: str = ""
    mco_liveness_ms: int = 30_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Publishes dropped because the list had no owner (a node gone, a client gone).
        self.dropped = 0

    # scripts (one registration per channel; evaluated by SHA afterwards)
    @cached_property
    def _put_if_owned(self) -> Any:
        return self._create_client().register_script(PUT_IF_OWNED)

    @cached_property
    def _renew_session(self) -> Any:
        return self._create_client().register_script(RENEW_SESSION)

    # --- queues ---------------------------------------------------------------------

    def _new_queue(self, queue: str, auto_delete: bool = False, **kwargs: Any) -> None:
        arguments = kwargs.get("arguments") or {}
        if arguments.get(PUBSUB_ARGUMENT):
            return  # a PUB/SUB subscription: nothing in Redis
        super()._new_queue(queue, auto_delete=auto_delete, **kwargs)
        if not self.mco_session:
            return
        with self.conn_or_acquire() as client, client.pipeline() as pipe:
            pipe.set(SESSION_KEY.format(self.mco_session), "1", px=self.mco_liveness_ms)
            pipe.hset(OWNERS_KEY, queue, self.mco_session)
            pipe.execute()

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str,
                    queue: str) -> None:
        if self.typeof(exchange).type == "fanout":
            # The publisher of a fanout never reads a table: keep it in-process.
            self._fanout_queues[queue] = (exchange, routing_key.replace("#", "*"))
            return
        super()._queue_bind(exchange, routing_key, pattern, queue)

    def queue_unbind(self, queue: str, exchange: str | None = None, routing_key: str = "",
                     arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().queue_unbind(queue, exchange, routing_key, arguments, **kwargs)
        if exchange and self.typeof(exchange).type == "fanout":
            return
        _, pattern, _ = self.typeof(exchange).prepare_bind(queue, exchange, routing_key,
                                                           arguments)
        member = self.sep.join([routing_key or "", pattern or "", queue or ""])
        with self.conn_or_acquire() as client, client.pipeline() as pipe:
            pipe.srem(self.keyprefix_queue % (exchange,), member)
            pipe.srem(self.keyprefix_binding_permanent % (exchange,), member)
            pipe.execute()

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> None:
        if if_empty and self._size(queue):
            return
        fanout = queue in self._fanout_queues
        self._fanout_queues.pop(queue, None)
        self.state.queue_bindings_delete(queue)
        self.auto_delete_queues.discard(queue)
        if fanout:
            return
        with self.conn_or_acquire() as client, client.pipeline() as pipe:
            pipe.delete(queue)
            pipe.hdel(OWNERS_KEY, queue)
            pipe.execute()

    # --- publishing -----------------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        expiration = message.get("properties", {}).get("expiration")
        ttl_ms = int(float(expiration)) if expiration else 0
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client:
            delivered = self._put_if_owned(keys=[key, OWNERS_KEY],
                                           args=[dumps(message), ttl_ms], client=client)
        if not delivered:
            self.dropped += 1

    # --- PUB/SUB consumers: subscribed before basic_consume returns ---------------------

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        ret = super().basic_consume(queue, *args, **kwargs)
        if queue in self._fanout_queues:
            self._subscribe_now(self._get_subscribe_topics(queue))
        return ret

    def _subscribe(self) -> None:
        """SUBSCRIBE, not kombu's PSUBSCRIBE: our channels are literal names (no
        ``fanout_patterns``), and Redis ACLs match a PSUBSCRIBE pattern only against
        identical patterns, where channel globs (``&/0.C.agent.*``) allow a SUBSCRIBE
        to any matching channel (``mco broker redis``)."""
        keys = [topic for queue in self.active_fanout_queues
                for topic in self._get_subscribe_topics(queue)]
        if not keys:
            return
        c = self.subclient
        if c.connection._sock is None:
            c.connection.connect()
        self._in_listen = c.connection
        c.subscribe(*keys)

    def _unsubscribe_from(self, queue: str) -> None:
        topics = self._get_subscribe_topics(queue)
        c = self.subclient
        if c.connection and c.connection._sock:
            c.unsubscribe(*topics)

    def _subscribe_now(self, topics: list[str], timeout: float = 10.0) -> None:
        """SUBSCRIBE and wait for Redis to confirm, delivering any message that
        arrives meanwhile (for earlier subscriptions) as the poller would."""
        client = self.subclient
        client.subscribe(*topics)
        pending = {t.encode() for t in topics}
        deadline = time.monotonic() + timeout
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"Redis did not confirm SUBSCRIBE {sorted(topics)}")
            response = client.parse_response(block=False, timeout=remaining)
            if not isinstance(response, list | tuple) or not response:
                continue
            kind = response[0].decode() if isinstance(response[0], bytes) else response[0]
            if kind == "subscribe":
                pending.discard(response[1] if isinstance(response[1], bytes)
                                else str(response[1]).encode())
            elif kind.endswith("message"):
                self._deliver_pubsub(self._handle_message(client, response))

    def _receive_one(self, c: Any) -> bool | None:
        """kombu's, with every message going through :meth:`_deliver_pubsub`: kombu
        let an envelope it could parse as JSON but not as a message (``[]``, ``{}``)
        escape as an error, which the connector took for a lost connection."""
        try:
            response = c.parse_response()
        except self.connection_errors:
            self._in_listen = None  # type: ignore[assignment]  # as kombu does
            raise
        if isinstance(response, list | tuple):
            payload = self._handle_message(c, response)
            kind = payload["type"]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind.endswith("message"):
                return self._deliver_pubsub(payload)
        return None

    def _deliver_pubsub(self, payload: dict[str, Any]) -> bool:
        """Deliver one PUB/SUB message; one that is not JSON, or not a kombu envelope,
        is reported as malformed and dropped (True either way: it was consumed)."""
        channel = payload["channel"]
        channel = channel.decode(errors="replace") if isinstance(channel, bytes) \
            else str(channel)
        if not channel:
            return False
        if channel[0] == "/":
            _, _, channel = channel.partition(".")
        exchange = channel.split("/", 1)[0]
        if exchange not in self._fanout_to_queue:
            return False
        try:
            message = loads(payload["data"])
            if not isinstance(message, dict):
                raise TypeError(f"a JSON {type(message).__name__}")
        except Exception as exc:  # kombu's object hooks raise more than ValueError
            report_malformed(self, self._fanout_to_queue[exchange],
                             f"not a kombu envelope ({type(exc).__name__})")
            return True
        self._deliver_fanout_message(message, exchange)
        return True

    def _brpop_read(self, **options: Any) -> bool:
        """kombu's, except that an item which is not JSON is reported as malformed
        and dropped instead of raising out of ``drain_events``."""
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP",
                                                        **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = (dest.decode(errors="replace") if isinstance(dest, bytes)
                    else str(dest)).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            try:
                message = loads(item)
                if not isinstance(message, dict):
                    raise TypeError(f"a JSON {type(message).__name__}")
            except Exception as exc:  # kombu's object hooks raise more than ValueError
                report_malformed(self, dest, f"not a kombu envelope ({type(exc).__name__})")
                return True
            self.connection._deliver(message, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu does
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    # --- liveness -------------------------------------------------------------------

    def renew_session(self) -> bool:
        """Renew this process's liveness key; False if it had expired (our lists may
        have been swept and must be declared again)."""
        if not self.mco_session:
            return True
        with self.conn_or_acquire() as client:
            return bool(self._renew_session(keys=[SESSION_KEY.format(self.mco_session)],
                                            args=[self.mco_liveness_ms], client=client))


class RedisTransport(redis.Transport):
    Channel = RedisChannel


def sweep_redis(client: Any, *, lock_ms: int = 0) -> int:
    """Delete the lists whose owning session has expired; returns how many.

    With ``lock_ms``, sweep only if no other process swept in the last ``lock_ms``
    milliseconds (a thousand daemons share one sweep per interval).
    """
    if lock_ms and not client.set(JANITOR_LOCK, "1", nx=True, px=lock_ms):
        return 0
    owners = {k.decode(): v.decode() for k, v in client.hgetall(OWNERS_KEY).items()}
    if not owners:
        return 0
    sessions = sorted(set(owners.values()))
    with client.pipeline() as pipe:
        for session in sessions:
            pipe.exists(SESSION_KEY.format(session))
        alive = dict(zip(sessions, pipe.execute(), strict=True))
    dead = [(queue, session) for queue, session in owners.items() if not alive[session]]
    if not dead:
        return 0
    script = client.register_script(DELETE_IF_OWNER)
    swept = 0
    for queue, session in dead:
        swept += int(script(keys=[queue, OWNERS_KEY], args=[session], client=client))
    if swept:
        log.info("janitor: removed %d Redis list(s) of dead processes", swept)
    return swept


# --- sqs --------------------------------------------------------------------------------

#: Tag on every SQS queue a process owns, its marker included: the marker's name.
SQS_OWNER_TAG = "mco-owner"
#: Tag for people: the identity of the process that owns the queue.
SQS_IDENTITY_TAG = "mco-identity"
#: A process's marker queue, in its main collective (kombu turns the dots into dashes).
SQS_MARKER = "{collective}.mco-alive.{pid}.{token}"
#: Error codes saying that a queue does not exist.
_SQS_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
                          "NonExistentQueue"})
#: Error codes saying that our lease message is no longer ours to extend.
_SQS_LOST = _SQS_MISSING | {"ReceiptHandleIsInvalid", "InvalidParameterValue",
                            "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"}
_SQS_DELETED_RECENTLY = frozenset({"AWS.SimpleQueueService.QueueDeletedRecently",
                                   "QueueDeletedRecently"})
_SQS_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
               "ApproximateNumberOfMessagesDelayed")
_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]")
#: Janitor evidence that is not a lease message's id: the marker queue is gone; it
#: holds no message at all.
_GONE, _ABSENT = "<marker gone>", "<no lease message>"


def _sqs_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def _sqs_missing(exc: BaseException) -> bool:
    return _sqs_code(exc) in _SQS_MISSING


def _tag_value(text: str) -> str:
    return _TAG_UNSAFE.sub("_", text)[:256]


class SqsLease:
    """This process's proof of life on SQS, shared by every queue it owns.

    A *marker queue* ``<main collective>-mco-alive-<pid>-<random>`` holds one lease
    message, which this process keeps in flight: received with a visibility timeout of
    ``timeout`` seconds and extended every ``timeout/3`` (one ``ChangeMessageVisibility``
    per renewal, however many queues the process owns: an emulator owns thousands).
    Each owned queue is tagged ``mco-owner=<marker>`` once, when declared (in its
    ``CreateQueue``, or by ``TagQueue`` when taking over an existing queue: a restarted
    node). If the process dies, SQS makes the lease message visible again at most
    ``timeout`` seconds after the last renewal, where the janitor finds it
    (:class:`SqsJanitor`). Expiry is measured by SQS alone, so clock skew between
    hosts plays no part; and no tagging call is made per renewal (AWS throttles those
    per account).

    Used by the consuming connection's thread only. ``persistent`` names the queues
    that are not the process's to own (a client host's long-lived reply slots).
    """

    #: SQS keeps a message in flight at most 12 hours after it was received: take a
    #: fresh lease message well before that.
    rotate_after = 6 * 3600.0
    #: Retention of the marker (the SQS maximum, 14 days): a dead owner's lease message
    #: waits there for a janitor (see SqsJanitor.absent_check for what comes after).
    retention = 1_209_600

    def __init__(self, collective: str, identity: str, timeout: float) -> None:
        self.collective = collective
        self.identity = identity
        self.timeout = float(timeout)
        self.visibility = min(43_200, max(1, math.ceil(self.timeout)))
        #: kombu names of queues that are not ours to own (host reply slots).
        self.persistent: set[str] = set()
        #: SQS names of the queues tagged with our marker.
        self.owned: set[str] = set()
        self.marker: str | None = None
        self.url: str | None = None
        #: Monotonic time just before the last successful renewal (or acquisition).
        self.renewed = 0.0
        self._held_since = 0.0
        self._receipts: list[str] = []
        self._retired: list[str] = []
        self.stats = {"acquired": 0, "renewals": 0, "rotations": 0, "lapses": 0}

    def tags(self) -> dict[str, str]:
        assert self.marker is not None
        return {SQS_OWNER_TAG: self.marker, SQS_IDENTITY_TAG: _tag_value(self.identity)}

    def ensure(self, channel: Any) -> None:
        """A live lease, before a new queue is tagged with it: acquire one, or renew it
        if that is due (a long run of declarations, before the consumer thread runs,
        must not let it lapse). ConnectionError if it had lapsed: every queue must
        then be declared again, under a new marker."""
        if self.marker is None:
            self._acquire(channel)
        else:
            self.keep_alive(channel)

    def keep_alive(self, channel: Any) -> None:
        """Renew if due (declaring and binding many queues may take longer than the
        lease, before the consumer thread renews it); ConnectionError if it lapsed."""
        if (self.marker is not None and time.monotonic() - self.renewed >= self.timeout / 3
                and not self.renew(channel.sqs())):
            raise ConnectionError("our SQS lease had lapsed; declaring our queues again")

    def renew(self, sqs: Any) -> bool:
        """Extend the lease. False if it had, or may have, lapsed: the marker is then
        forgotten and the caller must declare its queues again (a janitor may have
        removed them). Other errors (the network) propagate: try again soon."""
        if self.marker is None:
            return True
        started = time.monotonic()
        if started - self.renewed >= 0.9 * self.timeout:
            self._lapsed(f"not renewed for {started - self.renewed:.1f}s")
            return False
        try:
            for handle in self._receipts + self._retired:
                sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=handle,
                                              VisibilityTimeout=self.visibility)
            if started - self._held_since >= self.rotate_after:
                self._retired.extend(self._receipts)
                self._receipts = []
                self._hold_new_message(sqs)
                self.stats["rotations"] += 1
            for handle in list(self._retired):  # held until deleted
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=handle)
                self._retired.remove(handle)
        except Exception as exc:
            if _sqs_code(exc) in _SQS_LOST:
                self._lapsed(str(exc))
                return False
            raise
        self.renewed = started
        self.stats["renewals"] += 1
        return True

    def forget(self, name: str, sqs: Any) -> None:
        """``name`` (an SQS name) was deleted; once nothing is owned, the marker goes."""
        self.owned.discard(name)
        if not self.owned and self.marker is not None:
            self.release(sqs)

    def release(self, sqs: Any) -> None:
        """Delete the marker: this process owns nothing any more."""
        url, self.url = self.url, None
        self.reset()
        if url is not None:
            try:
                sqs.delete_queue(QueueUrl=url)
            except Exception as exc:
                log.debug("deleting our SQS marker %s: %s", url, exc)

    def reset(self) -> None:
        self.marker = self.url = None
        self._receipts, self._retired = [], []
        self.owned.clear()

    def _lapsed(self, reason: str) -> None:
        log.warning("our SQS lease %s lapsed (%s)", self.marker, reason)
        self.stats["lapses"] += 1
        self.reset()  # the janitor removes the old marker

    def _acquire(self, channel: Any) -> None:
        sqs = channel.sqs()
        name = channel.entity_name(SQS_MARKER.format(
            collective=self.collective, pid=os.getpid(), token=secrets.token_hex(6)))
        url = sqs.create_queue(
            QueueName=name, Attributes={"MessageRetentionPeriod": str(self.retention)},
            tags={SQS_OWNER_TAG: name, SQS_IDENTITY_TAG: _tag_value(self.identity)},
        )["QueueUrl"]
        self.marker, self.url = name, url
        try:
            self._hold_new_message(sqs)
        except BaseException:
            self.release(sqs)
            raise
        self.stats["acquired"] += 1
        log.debug("SQS lease taken on %s", name)

    def _hold_new_message(self, sqs: Any) -> None:
        """Send a lease message and receive it, which puts it in flight."""
        body = json.dumps({"identity": self.identity, "pid": os.getpid()})
        sent = sqs.send_message(QueueUrl=self.url, MessageBody=body)["MessageId"]
        deadline = time.monotonic() + 10.0
        while True:
            started = time.monotonic()
            got = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                      VisibilityTimeout=self.visibility,
                                      WaitTimeSeconds=1).get("Messages") or []
            # Only we write to our marker: whatever is visible there is ours to hold.
            self._receipts.extend(m["ReceiptHandle"] for m in got)
            if any(m.get("MessageId") == sent for m in got):
                self.renewed = self._held_since = started
                return
            if time.monotonic() >= deadline:
                raise ConnectionError(f"could not take the lease message of {self.marker}")


class SqsJanitor:
    """Removes the SQS queues of processes that died without cleaning up, and their SNS
    subscriptions (see :class:`SqsLease`). Sweeps run in a background thread.

    A sweep lists the queues of the given collectives (``ListQueues`` by prefix, 1,000 a
    call) and learns each queue's owner from its ``mco-owner`` tag, once per queue
    (cached; at most ``tag_reads`` reads per sweep, because AWS throttles tagging calls
    per account). Then it peeks into each owner's marker (``ReceiveMessage`` with a zero
    visibility timeout takes nothing away): a live owner holds its lease message in
    flight, so the marker looks empty. The same lease message (by its id) seen there
    in two sweeps at least ``confirm`` seconds apart (or a marker gone as long) means
    the owner is dead; the id matters because a live owner rotating its lease leaves a
    new message visible for an instant, a different one each time. Then its
    queues whose tag still names it (re-read just before: a restarted node may have
    taken its queue over) are unsubscribed from their topics and deleted, then the
    marker.

    Sweeps spread over the fleet: a process sweeps every ``interval`` times the number
    of processes it saw, jittered, so that the fleet as a whole sweeps about once per
    ``interval`` whatever its size, with no lock to share.
    """

    #: Owner tags read per sweep at most.
    tag_reads = 100
    #: Seconds a cached owner is trusted before its queue's tag is read again.
    cache_ttl = 3600.0
    #: Seconds between checks that a quiet marker still holds a lease message at all
    #: (after 14 days unseen, retention removes a dead owner's lease message).
    absent_check = 3600.0
    #: A marker with no message at all is dead when seen so twice this far apart
    #: (SQS's message counts lag; a marker is empty for a moment when created).
    absent_confirm = 300.0

    def __init__(self, *, interval: float, timeout: float,
                 lease: SqsLease | None = None) -> None:
        self.interval = float(interval)
        self.confirm = max(1.0, float(timeout) / 3)
        self.lease = lease
        self.next_at = time.monotonic() + random.uniform(0, self.interval or 1.0)
        self.stats = {"sweeps": 0, "swept_queues": 0, "swept_markers": 0,
                      "unsubscribed": 0, "errors": 0}
        self._owners: dict[str, tuple[str | None, float]] = {}  # url -> (marker, read at)
        #: marker -> what showed it might be dead (a visible lease message's id,
        #: _GONE or _ABSENT) -> when that was first seen.
        self._suspects: dict[str, dict[str, float]] = {}
        self._counted: dict[str, float] = {}  # marker -> when its counts were read
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def due(self, now: float) -> bool:
        return not self.running and now >= self.next_at

    def start(self, sqs: Any, sns: Any, prefixes: Iterable[str],
              topic_prefixes: Iterable[str] = (), stopping: threading.Event | None = None
              ) -> None:
        """Sweep once in a background thread (the caller checked :meth:`due`)."""
        prefixes, topic_prefixes = list(prefixes), list(topic_prefixes)

        def run() -> None:
            try:
                self.sweep(sqs, sns, prefixes, topic_prefixes, stopping)
            except Exception as exc:
                self.stats["errors"] += 1
                self.next_at = time.monotonic() + (self.interval or math.inf)
                log.info("SQS janitor: %s: %s", type(exc).__name__, exc)

        self.next_at = math.inf  # the sweep sets it
        self._thread = threading.Thread(target=run, name="mco-sqs-janitor", daemon=True)
        self._thread.start()

    def sweep(self, sqs: Any, sns: Any, prefixes: Iterable[str],
              topic_prefixes: Iterable[str] = (), stopping: threading.Event | None = None
              ) -> int:
        """One pass; returns how many queues (markers included) it deleted."""
        started = time.monotonic()
        listed: dict[str, str] = {}  # SQS name -> url
        for prefix in dict.fromkeys(prefixes):
            for url in _list_queues(sqs, prefix):
                listed[url.rsplit("/", 1)[-1]] = url
        urls = set(listed.values())
        self._owners = {u: o for u, o in self._owners.items() if u in urls}
        unread = [u for u in sorted(urls)
                  if started - self._owners.get(u, (None, -math.inf))[1] >= self.cache_ttl]
        for url in unread[:self.tag_reads]:
            if stopping is not None and stopping.is_set():
                return 0
            self._owners[url] = (self._read_owner(sqs, url), started)
        by_marker: dict[str, list[str]] = defaultdict(list)
        for url, (owner, _) in self._owners.items():
            if owner:
                by_marker[owner].append(url)
        mine = self.lease.marker if self.lease is not None else None
        dead: list[str] = []
        for marker in sorted(by_marker):
            if marker == mine:
                continue
            if stopping is not None and stopping.is_set():
                return 0
            evidence = self._probe(sqs, marker, listed.get(marker), started)
            if not evidence:
                self._suspects.pop(marker, None)
                continue
            first_seen = self._suspects.setdefault(marker, {})
            for item in evidence:
                first_seen.setdefault(item, started)
            if any(started - first_seen[item] >= (
                    max(self.confirm, self.absent_confirm) if item == _ABSENT
                    else self.confirm) for item in evidence):
                dead.append(marker)
        for marker in [m for m in self._suspects if m not in by_marker]:
            del self._suspects[marker]
        swept = self._remove(sqs, sns, dead, by_marker, listed, topic_prefixes) if dead else 0
        self.stats["sweeps"] += 1
        processes = len(by_marker) + (1 if mine and mine not in by_marker else 0)
        if self._suspects:
            delay = self.confirm
        elif self.interval:
            delay = self.interval * max(1, processes) * random.uniform(0.5, 1.5)
        else:
            delay = math.inf
        self.next_at = time.monotonic() + delay
        return swept

    def _read_owner(self, sqs: Any, url: str) -> str | None:
        try:
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        except Exception as exc:
            if _sqs_missing(exc):
                return None
            raise
        return tags.get(SQS_OWNER_TAG) or None

    def _probe(self, sqs: Any, marker: str, url: str | None, now: float) -> set[str]:
        """What suggests that ``marker``'s owner is dead: the ids of visible lease
        messages, ``_GONE`` (no marker), ``_ABSENT`` (no message at all, in flight or
        not); nothing if it looks alive."""
        try:
            if url is None:
                url = sqs.get_queue_url(QueueName=marker)["QueueUrl"]
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                      VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages")
        except Exception as exc:
            if _sqs_missing(exc):
                return {_GONE}
            raise
        if got:
            return {str(m.get("MessageId")) for m in got}
        seen = self._counted.setdefault(marker, now)
        if _ABSENT in self._suspects.get(marker, ()) or now - seen >= self.absent_check:
            self._counted[marker] = now
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_SQS_COUNTS)
                                              ).get("Attributes") or {}
            if not any(int(counts.get(name, "0")) for name in _SQS_COUNTS):
                return {_ABSENT}
        return set()

    def _remove(self, sqs: Any, sns: Any, dead: list[str], by_marker: dict[str, list[str]],
                listed: dict[str, str], topic_prefixes: Iterable[str]) -> int:
        victims: list[str] = []
        for marker in dead:
            for url in by_marker[marker]:
                if url == listed.get(marker):
                    continue
                owner = self._read_owner(sqs, url)  # fresh: taken over since?
                if owner != marker:
                    self._owners[url] = (owner, time.monotonic())
                    continue
                victims.append(url)
        endpoints: set[str] = set()
        for url in victims:
            try:
                endpoints.add(sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
            except Exception as exc:
                if not _sqs_missing(exc):
                    raise
        prefixes = tuple(topic_prefixes)
        if endpoints and prefixes:
            self.stats["unsubscribed"] += _unsubscribe(sns, endpoints, prefixes)
        swept = 0
        for url in victims:
            swept += _delete_queue(sqs, url)
            self._owners.pop(url, None)
        self.stats["swept_queues"] += swept
        for marker in dead:
            marker_url = listed.get(marker)
            try:
                marker_url = marker_url or sqs.get_queue_url(QueueName=marker)["QueueUrl"]
            except Exception as exc:
                if not _sqs_missing(exc):
                    raise
            if marker_url is not None:
                gone = _delete_queue(sqs, marker_url)
                self.stats["swept_markers"] += gone
                swept += gone
                self._owners.pop(marker_url, None)
            self._suspects.pop(marker, None)
            self._counted.pop(marker, None)
        log.info("janitor: removed %d SQS queue(s) of %d dead process(es)", swept, len(dead))
        return swept


def _list_queues(sqs: Any, prefix: str) -> list[str]:
    urls: list[str] = []
    kwargs: dict[str, Any] = {"QueueNamePrefix": prefix, "MaxResults": 1000}
    while True:
        response = sqs.list_queues(**kwargs)
        urls.extend(response.get("QueueUrls") or [])
        if not response.get("NextToken"):
            return urls
        kwargs["NextToken"] = response["NextToken"]


def _delete_queue(sqs: Any, url: str) -> int:
    try:
        sqs.delete_queue(QueueUrl=url)
        return 1
    except Exception as exc:
        if _sqs_missing(exc):
            return 0
        raise


def _unsubscribe(sns: Any, endpoints: set[str], topic_prefixes: tuple[str, ...]) -> int:
    """Remove the subscriptions of ``endpoints`` (queue ARNs) to topics whose name starts
    with one of ``topic_prefixes``; returns how many."""
    removed = 0
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics") or []:
            arn = topic["TopicArn"]
            if not arn.rsplit(":", 1)[-1].startswith(topic_prefixes):
                continue
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
            for sub_page in pages:
                for sub in sub_page.get("Subscriptions") or []:
                    if (sub.get("Endpoint") in endpoints
                            and str(sub.get("SubscriptionArn", "")).startswith("arn:")):
                        sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
                        removed += 1
    return removed


def sqs_transport() -> type:
    """The SQS transport class (imported lazily: boto3 is an optional dependency)."""
    from botocore.exceptions import ClientError
    from kombu.transport import SQS
    from kombu.transport.SQS.exceptions import DoesNotExistQueueException

    class SQSChannel(MalformedGuard, SQS.Channel):
        """See the module docstring (sqs)."""

        #: Our own transport option: the process's SqsLease (consuming connection only).
        from_transport_options = (  # type: ignore[assignment]
            *SQS.Channel.from_transport_options, "mco_lease")
        mco_lease: SqsLease | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.dropped = 0
            self._checked_topics: set[str] = set()

        def _new_queue(self, queue: str, **kwargs: Any) -> str:
            """The URL of ``queue``; with a lease, a queue we own, tagged with our marker
            (created so, or tagged when taken over). Called before every receive: an
            owned queue costs nothing more than kombu's cache look-up."""
            lease = self.mco_lease
            if lease is None or queue in lease.persistent:
                return str(super()._new_queue(queue, **kwargs))
            name = self.canonical_queue_name(queue)
            owned = name in lease.owned
            if not owned:
                lease.ensure(self)
            try:
                url = str(self._resolve_queue_url(queue))
            except DoesNotExistQueueException:
                url = self._create_owned(name, lease)
            else:
                if not owned:
                    try:  # someone else's (a node restarted): ours now
                        self.sqs().tag_queue(QueueUrl=url, Tags=lease.tags())
                    except ClientError as exc:
                        if not _sqs_missing(exc):
                            raise
                        self._queue_cache.pop(name, None)
                        url = self._create_owned(name, lease)
            lease.owned.add(name)
            return url

        def _create_owned(self, name: str, lease: SqsLease) -> str:
            attributes = {"VisibilityTimeout": str(self.visibility_timeout)}
            attributes.update(self.transport_options.get("sqs-creation-attributes") or {})
            try:
                url = self.sqs(queue=name).create_queue(
                    QueueName=name, Attributes=attributes, tags=lease.tags())["QueueUrl"]
            except ClientError as exc:
                if _sqs_code(exc) in _SQS_DELETED_RECENTLY:  # by a janitor: retry later
                    raise ConnectionError(f"SQS queue {name} was deleted less than 60 s "
                                          "ago; declaring it again later") from exc
                raise
            self._queue_cache[name] = url
            return str(url)

        def _queue_bind(self, exchange: str, routing_key: str, pattern: str,
                        queue: str) -> None:
            if self._exchange_is_fanout(exchange):
                if exchange not in self._checked_topics:
                    # kombu looks up every subscriber's queue (a GetQueueUrl each) to
                    # drop stale subscriptions: once per topic is enough (the janitor
                    # removes those of dead processes), not once per bind.
                    self.fanout.initialise_exchange(exchange)
                    self._checked_topics.add(exchange)
                if self.mco_lease is not None:
                    self.mco_lease.keep_alive(self)
                self.fanout.subscriptions.subscribe_queue(queue_name=queue,
                                                          exchange_name=exchange)

        def queue_unbind(self, queue: str, exchange: str | None = None,
                         routing_key: str = "", arguments: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
            fanout = exchange is not None and self._exchange_is_fanout(exchange)
            super().queue_unbind(queue, exchange, routing_key, arguments, **kwargs)
            if fanout and exchange is not None:
                self.fanout.subscriptions.unsubscribe_queue(queue_name=queue,
                                                            exchange_name=exchange)

        def _subscribe_queue_to_fanout_exchange_if_required(self, queue_name: str) -> None:
            """Subscriptions are made per binding (see _queue_bind), not here."""

        def queue_delete(self, queue: str, if_unused: bool = False,
                         if_empty: bool = False, **kwargs: Any) -> None:
            for exchange, _key, _args in list(self.state.queue_bindings(queue)):
                if self._exchange_is_fanout(exchange):
                    try:
                        self.fanout.subscriptions.unsubscribe_queue(
                            queue_name=queue, exchange_name=exchange)
                    except Exception as exc:
                        log.debug("unsubscribing %s from %s: %s", queue, exchange, exc)
            self.state.queue_bindings_delete(queue)
            name = self.canonical_queue_name(queue)
            try:
                url = self._resolve_queue_url(queue)
            except DoesNotExistQueueException:
                url = None
            if url is not None:
                try:
                    self.sqs().delete_queue(QueueUrl=url)
                except ClientError as exc:
                    log.debug("deleting queue %s: %s", queue, exc)
                self._queue_cache.pop(name, None)
            if self.mco_lease is not None:  # the marker goes with the last owned queue
                self.mco_lease.forget(name, self.sqs())

        def _messages_to_python(self, messages: list[dict[str, Any]], queue: str
                                ) -> list[dict[str, Any]]:
            """Delete the received batch with one synchronous call: kombu deletes
            each no-ack message through its asynchronous client, which needs an event
            loop (a hub) that a plain ``drain_events`` consumer does not have."""
            self._to_delete: list[str] = []
            payloads = super()._messages_to_python(messages, queue)
            handles, self._to_delete = self._to_delete, []
            if handles:
                url = self._new_queue(queue)
                for start in range(0, len(handles), 10):
                    entries = [{"Id": str(n), "ReceiptHandle": h}
                               for n, h in enumerate(handles[start:start + 10])]
                    self.sqs(queue=self.canonical_queue_name(queue)).delete_message_batch(
                        QueueUrl=url, Entries=entries)
            return payloads

        def _message_to_python(self, message: dict[str, Any], queue_name: str,
                               q_url: str) -> dict[str, Any]:
            """kombu's, except that a body it cannot decode at all (kombu's JSON
            object hooks raise more than it catches) is deleted and handed on as an
            empty payload, which :class:`MalformedGuard` reports as malformed: an
            exception here would lose the whole batch and leave it to be received
            again, for ever."""
            try:
                return super()._message_to_python(message, queue_name, q_url)
            except Exception:
                if queue_name in self._noack_queues:
                    self._delete_message(queue_name, message)
                return {}

        def _delete_message(self, queue_name: str, message: dict[str, Any]) -> None:
            self._to_delete.append(message["ReceiptHandle"])

        def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
            try:
                self._resolve_queue_url(queue)
            except DoesNotExistQueueException:
                self.dropped += 1
                return
            try:
                super()._put(queue, message, **kwargs)
            except ClientError as exc:
                if "NonExistentQueue" not in str(exc):
                    raise
                self._queue_cache.pop(self.canonical_queue_name(queue), None)
                self.dropped += 1

    class SQSTransport(SQS.Transport):
        Channel = SQSChannel

    return SQSTransport
