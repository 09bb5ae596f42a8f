"""kombu's stock ``memory://`` and ``redis://`` transports, with their unbind and
delete made to really remove what they should.

Both are virtual transports: a binding is an entry in a table the publisher reads. In
kombu 5.7 their ``queue_unbind`` only forgets the binding inside the process that
calls it, so after a reload a node kept receiving requests for an agent it no longer
hosts; and ``queue_delete`` removes neither the memory exchange table entries (the next
publish re-created the queue) nor a Redis list that has no binding (a client's reply
queue stayed behind). These subclasses fix exactly that; the Redis one also bounds
how long messages pile up in a queue nobody consumes (see :class:`RedisChannel`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kombu.transport import memory, redis, virtual
from kombu.utils.json import dumps
from kombu.utils.objects import cached_property


class MemoryChannel(memory.Channel):
    """In-process channel whose queues are private to this transport class."""

    queues: dict[str, Any] = {}
    events: Any = defaultdict(set)

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


#: LPUSH a message, then make sure the list lives at least as long as the message's
#: TTL (never shortening it): a list nobody consumes any more (a crashed node, a client
#: gone before its replies came) disappears once its newest message has expired.
LPUSH_WITH_TTL = """
redis.call('LPUSH', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
"""


class RedisChannel(redis.Channel):
    """Redis channel whose unbind removes the binding from Redis, whose delete removes
    the queue's lists even when it has no binding, and which honours a message's
    ``expiration`` as a lower bound on its list's lifetime (Redis has no per-message
    TTL; kombu ignores it)."""

    @cached_property
    def _lpush_with_ttl(self) -> Any:
        return self._create_client().register_script(LPUSH_WITH_TTL)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        expiration = message.get("properties", {}).get("expiration")
        if not expiration or kwargs.get("_publish_batch") is not None:
            super()._put(queue, message, **kwargs)
            return
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client:
            self._lpush_with_ttl(keys=[key], args=[dumps(message), int(expiration)],
                                 client=client)

    def queue_unbind(self, queue: str, exchange: str | None = None, routing_key: str = "",
                     arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().queue_unbind(queue, exchange, routing_key, arguments, **kwargs)
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
        super().queue_delete(queue, if_unused=if_unused, **kwargs)
        self._purge(queue)


class RedisTransport(redis.Transport):
    Channel = RedisChannel
