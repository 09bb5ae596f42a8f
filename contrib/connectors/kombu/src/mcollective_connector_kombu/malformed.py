"""Messages a virtual transport cannot decode are counted and dropped, never raised.

kombu's virtual channels (memory, Redis, SQS, the filesystem broker) decode a kombu
envelope (JSON with ``properties``, ``body``, ``body_encoding``...) before anything of
ours sees a message. Anybody allowed to publish on a channel can put anything there,
though, and kombu lets a decoding error escape from ``drain_events``, where it looks
exactly like a broken connection: the connector would reconnect, and (Redis) a burst of
garbage arriving while it re-subscribed looked like the broker refusing the
subscriptions. Here every step that turns raw bytes into a message is guarded: what
fails is reported through the connection's ``mco_on_malformed`` transport option (the
connector counts it as ``malformed`` and tells the daemon) and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: ``on_malformed(queue, reason)``
MalformedHandler = Callable[[str, str], None]


def report_malformed(channel: Any, queue: str, reason: str) -> None:
    """Tell the connector owning ``channel``'s connection about an undecodable message
    (logged at debug level only if nobody listens: the content is attacker-chosen)."""
    handler: MalformedHandler | None = None
    try:
        handler = channel.connection.client.transport_options.get("mco_on_malformed")
    except AttributeError:
        handler = None
    if handler is None:
        log.debug("dropped an undecodable message from %r: %s", queue, reason)
        return
    handler(queue, reason)


def describe_error(exc: BaseException) -> str:
    """A short, bounded description of a decoding error (no message content)."""
    return f"{type(exc).__name__}"


class MalformedGuard:
    """Mixin for kombu virtual channels (first base): a raw message that is not a
    kombu envelope, or whose body cannot be decoded, is reported and dropped instead
    of raising out of ``drain_events``.

    kombu's ``basic_consume`` installs a callback that builds ``self.Message(raw)``
    (KeyError, TypeError, binascii errors on garbage) before calling the consumer;
    this replaces it with one that does the same under a guard. Every consumer of
    the connector is ``no_ack``, but acknowledgement is kept as kombu does it."""

    def basic_consume(self, queue: str, no_ack: bool, callback: Any, consumer_tag: str,
                      **kwargs: Any) -> Any:
        result = super().basic_consume(  # type: ignore[misc]
            queue, no_ack, callback, consumer_tag, **kwargs)
        channel: Any = self

        def guarded(raw_message: Any) -> Any:
            try:
                message = channel.Message(raw_message, channel=channel)
                body = message.body
                if body is not None and not isinstance(body, str | bytes | bytearray
                                                       | memoryview):
                    raise TypeError(f"body is a {type(body).__name__}")
            except Exception as exc:
                report_malformed(channel, queue, f"not a kombu message "
                                 f"({describe_error(exc)})")
                return None
            if not no_ack:
                channel.qos.append(message, message.delivery_tag)
            return callback(message)

        self.connection._callbacks[queue] = guarded  # type: ignore[attr-defined]
        return result
