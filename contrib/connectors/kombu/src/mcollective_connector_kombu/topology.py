"""Names and declarations of exchanges and queues (DESIGN §5), per transport family.

Per collective ``C``:

* broadcast: topic exchange ``C.broadcast``; a request for agent ``A`` is published
  with routing key ``agent.A``; a node binds its queue once per agent it hosts, so the
  broker (or the virtual transport's binding table) delivers only to nodes that host
  the agent;
* direct: exchange ``C.directed``; routing key = node identity. On AMQP it is a *topic*
  exchange (an exact key matches only itself) rather than a direct one, because
  RabbitMQ's topic permissions apply to topic exchanges only: they are what limits a
  node's account to binding its own identity (``mco broker rabbitmq``);
* each node identity has **one** queue per collective, ``C.node.<identity>``, bound to
  both. One queue rather than two keeps a node's requests in publish order whether they
  were broadcast or addressed, halves the queues (and, on polling transports, the
  polls) per node, and lets the queue a message arrived on say which identity it is
  for, which is how one process serves many identities;
* replies: a private queue per client process,
  ``<main_collective>.reply.<account>.<identity>.<pid>.<random>`` (``<account>``: the
  broker user it logs in as), deleted by ``close()``. On AMQP replies go through the
  topic exchange ``mcollective_reply`` (as the original RabbitMQ connector's
  ``use_reply_exchange``), to which the client binds its queue with the queue's name;
  elsewhere through the default exchange. Publishing to the default exchange reaches
  *any* queue, so an account allowed to would be able to put requests into other nodes'
  queues: with the reply exchange a node's account needs no default exchange at all,
  and topic permissions keep each client's account to binding its own reply names.

Exchanges are declared only when missing (a passive declaration first, on a channel
of its own): accounts without ``configure`` permission work once an administrator
created them, durable (``mco broker rabbitmq``).

Redis and SQS differ (see :class:`QueuePolicy`), because their topic exchanges are not
what they seem (measured in ``kombu-transports.md``):

* **redis**: broadcast goes to a *fanout* exchange per agent, ``C.agent.A``, which is
  Redis PUB/SUB: nothing is stored, so a dead node accumulates nothing. kombu lets one
  channel deliver a fanout exchange to one queue only, so a process subscribes once
  per (collective, agent) it hosts, ``C.agent.A.<session>``, and hands each message to
  every local identity hosting ``A`` in ``C`` (one process serving many identities
  pays one delivery, not one per identity). Direct requests and replies are lists
  published through the default exchange, delivered only while an owner lives.
* **sqs**: topic routing works only inside the declaring process, so broadcast goes to
  a fanout exchange per agent (an SNS topic) to which each node queue subscribes;
  direct requests go through the default exchange to the node queue. Creating a
  queue is slow and rate-limited on AWS, so a client uses one of a few long-lived
  reply queues per host, ``C.reply.<identity>.<slot>``, and filters replies by
  request id (the client session already does).

Every participant declares exchanges with the same arguments (non-durable, not
auto-delete), or AMQP brokers refuse the second declaration.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Literal

ExchangeKind = Literal["topic", "direct", "fanout"]


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    kind: ExchangeKind


#: Longest per-message expiration (seconds) an AMQP broker accepts (2**32-1 ms).
MAX_EXPIRATION = (2 ** 32 - 1) // 1000
#: Longest routing key or queue name (bytes): AMQP's short string.
MAX_NAME = 255


def broadcast_exchange(collective: str) -> ExchangeSpec:
    return ExchangeSpec(f"{collective}.broadcast", "topic")


def directed_exchange(collective: str, family: str = "amqp") -> ExchangeSpec:
    return ExchangeSpec(f"{collective}.directed", "topic" if family == "amqp" else "direct")


#: AMQP: the exchange every reply goes through (routing key = reply queue name).
REPLY_EXCHANGE = ExchangeSpec("mcollective_reply", "topic")


def fanout_exchange(collective: str, agent: str) -> ExchangeSpec:
    """redis and sqs: one fanout exchange (PUB/SUB channel, SNS topic) per agent."""
    return ExchangeSpec(f"{collective}.agent.{agent}", "fanout")


def fanout_queue(collective: str, agent: str, session: str) -> str:
    """redis: this process's PUB/SUB subscription to ``fanout_exchange``."""
    return f"{collective}.agent.{agent}.{session}"


def session_id(identity: str) -> str:
    """What names this process's private resources: unique, and tells who it was."""
    return f"{identity}.{os.getpid()}.{secrets.token_hex(4)}"


def host_reply_queue(collective: str, identity: str, slot: int) -> str:
    """sqs: a long-lived reply queue of a client host, reused by later clients."""
    return f"{collective}.reply.{identity}.{slot}"


def agent_key(agent: str) -> str:
    return f"agent.{agent}"


def node_queue(collective: str, identity: str) -> str:
    return f"{collective}.node.{identity}"


def reply_prefix(collective: str, account: str) -> str:
    """Every reply queue of ``account``'s clients with main collective ``collective``."""
    return f"{collective}.reply.{account}."


def reply_queue(collective: str, identity: str, account: str) -> str:
    """A fresh, unguessable reply queue name for this process."""
    return (f"{reply_prefix(collective, account)}{identity}.{os.getpid()}."
            f"{secrets.token_hex(8)}")


class ExchangeProbe:
    """AMQP: asks whether an exchange exists with a passive declaration, which needs
    no permission, on a spare channel of the connection (the broker closes a channel
    whose passive declaration names a missing exchange)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.channel: Any = None

    def exists(self, exchange: ExchangeSpec) -> bool:
        import amqp

        if self.channel is None:
            self.channel = self.connection.channel()
        try:
            self.channel.exchange_declare(exchange=exchange.name, type=exchange.kind,
                                          passive=True)
            return True
        except amqp.exceptions.NotFound:
            self.channel = None
            return False


def relay_queues(collective: str, account: str) -> tuple[str, str]:
    """A federation broker's queues: every request of ``collective`` (bound with
    ``agent.*`` to ``C.broadcast`` and ``#`` to ``C.directed``), and every reply to
    clients of ``collective`` (bound with ``C.reply.#`` to the reply exchange)."""
    return (f"{collective}.federation.{account}.requests",
            f"{collective}.federation.{account}.replies")


def declare_exchange(channel: Any, exchange: ExchangeSpec,
                     probe: ExchangeProbe | None = None) -> None:
    """Declare ``exchange`` (non-durable), unless ``probe`` finds it exists already."""
    if probe is not None and probe.exists(exchange):
        return
    channel.exchange_declare(exchange=exchange.name, type=exchange.kind, durable=False,
                             auto_delete=False)


@dataclass(frozen=True)
class QueuePolicy:
    """How queues are declared and messages published on one transport family.

    ``family`` is ``amqp``, ``redis``, ``sqs``, ``memory`` or ``filesystem``.
    """

    family: str
    queue_expires: float = 300.0

    @property
    def is_amqp(self) -> bool:
        return self.family == "amqp"

    @property
    def broadcast(self) -> Literal["topic", "pubsub", "fanout"]:
        """topic: ``C.broadcast`` bound per agent; pubsub: one subscription per process
        and (collective, agent); fanout: node queue bound to ``C.agent.A``."""
        if self.family == "redis":
            return "pubsub"
        if self.family == "sqs":
            return "fanout"
        return "topic"

    @property
    def direct_via_default(self) -> bool:
        """Direct requests go to the node queue through the default exchange (no
        direct exchange: its binding table would be read on every publish on Redis,
        and lives only in the declaring process on SQS)."""
        return self.family in ("redis", "sqs")

    @property
    def persistent_replies(self) -> bool:
        """sqs: reply queues are long-lived, per host, and not deleted on close."""
        return self.family == "sqs"

    def _arguments(self) -> dict[str, Any] | None:
        # x-expires is an AMQP backstop for a queue that was declared but never
        # consumed. On Redis, kombu would switch the whole exchange's binding table
        # to expiring mode, and the filesystem and memory transports ignore it.
        if self.is_amqp:
            return {"x-expires": int(self.queue_expires * 1000)}
        return None

    def declare_pubsub_queue(self, channel: Any, name: str) -> None:
        """redis: a subscription, nothing stored (see transports.RedisChannel)."""
        from mcollective_connector_kombu.transports import PUBSUB_ARGUMENT

        channel.queue_declare(queue=name, durable=False, exclusive=False, auto_delete=True,
                              arguments={PUBSUB_ARGUMENT: True})

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
        (and everywhere, as well) the node checks the request body's own ttl."""
        if self.family in ("amqp", "redis") and ttl and ttl > 0:
            # RabbitMQ refuses (and closes the channel over) an expiration beyond
            # 2**32-1 ms; nodes drop requests above max_ttl, this is the last guard.
            return float(min(ttl, MAX_EXPIRATION))
        return None

    @property
    def channel_dies_on_error(self) -> bool:
        """AMQP closes a channel on any refused operation; virtual transports just
        raise and the channel remains usable."""
        return self.is_amqp
