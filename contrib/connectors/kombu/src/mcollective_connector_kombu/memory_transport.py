"""kombu's stock ``memory://`` transport, adapted: ``queue_delete`` really forgets the
queue and its bindings (kombu 5.7 left the exchange table entry, so the next publish
re-created the queue), and a put to a queue that does not exist is dropped.

Its own module because ``transports`` imports kombu's redis transport, which fails to
import without redis-py (the connector's ``[redis]`` extra): ``memory://`` must not need it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kombu.transport import memory, virtual

from mcollective_connector_kombu.delivery_tags import CountedDeliveryTags
from mcollective_connector_kombu.malformed import MalformedGuard


class MemoryChannel(MalformedGuard, CountedDeliveryTags, memory.Channel):
    """In-process channel whose queues are private to this transport class."""

    queues: dict[str, Any] = {}
    events: Any = defaultdict(set)
    #: Messages never leave the process: no base64 round trip of every body (kombu's
    #: virtual default, for brokers that store text).
    body_encoding = None  # type: ignore[assignment]

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
