"""Names and declarations of exchanges and queues (DESIGN §5), per transport family.

Per collective ``C``:

* broadcast: topic exchange ``C.broadcast``; a request for agent ``A`` is published
  with routing key ``agent.A``; a node binds its queue once per agent it hosts, so the
  broker (or the virtual transport's binding table) delivers only to nodes that host
  the agent;
* direct: direct exchange ``C.directed``; routing key = node identity;
* each node identity has **one** queue per collective, ``C.node.<identity>``, bound to
  both. One queue rather than two keeps a node's requests in publish order whether they
  were broadcast or addressed, halves the queues (and, on polling transports, the
  polls) per node, and lets the queue a message arrived on say which identity it is
  for, which is how one process serves many identities;
* replies: a private queue per client process,
  ``<main_collective>.reply.<identity>.<pid>.<random>``, published to through the
  default exchange with routing key = queue name, deleted by ``close()``.

Every participant declares exchanges with the same arguments (non-durable, not
auto-delete), or AMQP brokers refuse the second declaration.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Literal

ExchangeKind = Literal["topic", "direct"]


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    kind: ExchangeKind


def broadcast_exchange(collective: str) -> ExchangeSpec:
    return ExchangeSpec(f"{collective}.broadcast", "topic")


def directed_exchange(collective: str) -> ExchangeSpec:
    return ExchangeSpec(f"{collective}.directed", "direct")


def agent_key(agent: str) -> str:
    return f"agent.{agent}"


def node_queue(collective: str, identity: str) -> str:
    return f"{collective}.node.{identity}"


def reply_queue(collective: str, identity: str) -> str:
    """A fresh, unguessable reply queue name for this process."""
    return f"{collective}.reply.{identity}.{os.getpid()}.{secrets.token_hex(4)}"


def declare_exchange(channel: Any, exchange: ExchangeSpec) -> None:
    channel.exchange_declare(exchange=exchange.name, type=exchange.kind, durable=False,
                             auto_delete=False)


@dataclass(frozen=True)
class QueuePolicy:
    """How queues are declared and messages published on one transport family.

    ``family`` is ``amqp``, ``redis``, ``memory`` or ``filesystem``.
    """

    family: str
    queue_expires: float = 300.0

    @property
    def is_amqp(self) -> bool:
        return self.family == "amqp"

    def _arguments(self) -> dict[str, Any] | None:
        # x-expires is an AMQP backstop for a queue that was declared but never
        # consumed. On Redis, kombu would switch the whole exchange's binding table
        # to expiring mode, and the filesystem and memory transports ignore it.
        if self.is_amqp:
            return {"x-expires": int(self.queue_expires * 1000)}
        return None

    def declare_node_queue(self, channel: Any, name: str) -> None:
        """Auto-delete, not exclusive: a daemon restarting (old and new process
        briefly overlapping) or a misconfigured duplicate identity must not be
        refused; the queue still goes away with its last consumer."""
        channel.queue_declare(queue=name, durable=False, exclusive=False, auto_delete=True,
                              arguments=self._arguments())

    def declare_reply_queue(self, channel: Any, name: str) -> None:
        """Exclusive: only this client may consume its replies."""
        channel.queue_declare(queue=name, durable=False, exclusive=True, auto_delete=True,
                              arguments=self._arguments())

    def expiration(self, ttl: float) -> float | None:
        """Per-message TTL: enforced by AMQP brokers; on Redis our channel makes it the
        least lifetime of the message's list, so lists nobody reads expire. Elsewhere
        the node checks the request body's own ttl."""
        if self.family in ("amqp", "redis") and ttl and ttl > 0:
            return float(ttl)
        return None

    @property
    def channel_dies_on_error(self) -> bool:
        """AMQP closes a channel on any refused operation; virtual transports just
        raise and the channel remains usable."""
        return self.is_amqp
