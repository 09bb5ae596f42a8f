"""kombu's stock ``memory://``, ``redis://`` and ``sqs://`` transports, adapted so that
what this connector relies on is true (see ``../shared/reference/kombu-transports.md``
for the measured behaviour that motivates each change).

memory
    ``queue_delete`` really forgets the queue and its bindings (kombu 5.7 left the
    exchange table entry, so the next publish re-created the queue).

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
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from kombu.transport import memory, redis, virtual
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

log = logging.getLogger(__name__)


class MemoryChannel(memory.Channel):
    """In-process channel whose queues are private to this transport class."""

    queues: dict[str, Any] = {}
    events: Any = defaultdict(set)

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        """Drop a message for a queue that does not exist (stock memory:// creates
        it, so a reply to a client that has gone would stay forever)."""
        if queue in type(self).queues:
            super()._put(queue, message, **kwargs)

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> None:
        if if_empty and self._size(queue):
            return
        for exchange, routing_key, arguments in list(self.state.queue_bindings(queue)):
            self.queue_unbind(queue, exchange, routing_key, arguments)
        self.state.queue_bindings_delete(queue)
        type(self).queues.pop(queue, None)


class MemoryTransport(memory.Transport):
    """``memory://`` for one process (tests): separate state from kombu's own."""

    Channel = MemoryChannel
    global_state = virtual.BrokerState()


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


class RedisChannel(redis.Channel):
    """See the module docstring (redis)."""

    #: Our own transport options (the session id and liveness timeout in ms).
    from_transport_options = (*redis.Channel.from_transport_options, "mco_session",
                              "mco_liveness_ms")
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

    def _subscribe_now(self, topics: list[str], timeout: float = 10.0) -> None:
        """PSUBSCRIBE and wait for Redis to confirm, delivering any message that
        arrives meanwhile (for earlier subscriptions) as the poller would."""
        client = self.subclient
        client.psubscribe(*topics)
        pending = {t.encode() for t in topics}
        deadline = time.monotonic() + timeout
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"Redis did not confirm PSUBSCRIBE {sorted(topics)}")
            response = client.parse_response(block=False, timeout=remaining)
            if not isinstance(response, list | tuple) or not response:
                continue
            kind = response[0].decode() if isinstance(response[0], bytes) else response[0]
            if kind == "psubscribe":
                pending.discard(response[1] if isinstance(response[1], bytes)
                                else str(response[1]).encode())
            elif kind.endswith("message"):
                self._deliver_pubsub(self._handle_message(client, response))

    def _deliver_pubsub(self, payload: dict[str, Any]) -> None:
        channel = payload["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if not payload["data"]:
            return
        if channel[0] == "/":
            _, _, channel = channel.partition(".")
        exchange = channel.split("/", 1)[0]
        if exchange in self._fanout_to_queue:
            message = loads(payload["data"])
            self._deliver_fanout_message(message, exchange)

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

def sqs_transport() -> type:
    """The SQS transport class (imported lazily: boto3 is an optional dependency)."""
    from botocore.exceptions import ClientError
    from kombu.transport import SQS
    from kombu.transport.SQS.exceptions import DoesNotExistQueueException

    class SQSChannel(SQS.Channel):  # type: ignore[name-defined,misc]
        """See the module docstring (sqs)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.dropped = 0

        def _queue_bind(self, exchange: str, routing_key: str, pattern: str,
                        queue: str) -> None:
            if self._exchange_is_fanout(exchange):
                self.fanout.initialise_exchange(exchange)
                self.fanout.subscriptions.subscribe_queue(queue_name=queue,
                                                          exchange_name=exchange)

        def queue_unbind(self, queue: str, exchange: str | None = None,
                         routing_key: str = "", arguments: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
            fanout = bool(exchange) and self._exchange_is_fanout(exchange)
            super().queue_unbind(queue, exchange, routing_key, arguments, **kwargs)
            if fanout:
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
            try:
                url = self._resolve_queue_url(queue)
            except DoesNotExistQueueException:
                return
            try:
                self.sqs().delete_queue(QueueUrl=url)
            except ClientError as exc:
                log.debug("deleting queue %s: %s", queue, exc)
            self._queue_cache.pop(self.canonical_queue_name(queue), None)

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

    class SQSTransport(SQS.Transport):  # type: ignore[name-defined,misc]
        Channel = SQSChannel

    return SQSTransport
