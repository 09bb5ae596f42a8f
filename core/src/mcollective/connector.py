"""What a connector plugin provides: moving opaque bytes between clients and nodes.

The topology (DESIGN §5) is the connector's business; callers speak only of collectives,
agents, node identities and reply targets. Connectors must be safe to publish from any
thread while their consumer runs, must never publish from inside their own consumer
callback on the consuming connection (py-amqp dispatches re-entrantly there), and must
never let an exception from ``on_message`` stop consumption.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: ``on_message(body, identity)``: ``identity`` is the node whose queue received the
#: message (``None`` for replies arriving at a client).
MessageHandler = Callable[[bytes, "str | None"], None]

#: Federation: ``handler(body, route)``; for relayed requests ``route`` is the target
#: identity of a direct request (``None``: a broadcast), for relayed replies the reply
#: destination they were sent to.
RelayHandler = Callable[[bytes, "str | None"], None]


class Connector(ABC):
    """A connection to the middleware for one process."""

    #: Counters the daemon reports in ``daemon_stats`` (reconnects, publish failures...).
    #: ``disconnects`` (connections found lost) and ``reconnects`` have a meaning the
    #: client relies on: a change during a request is reported as a broker failure.
    stats: dict[str, int]

    #: Set by the daemon before :meth:`start`: called (with a short reason, never the
    #: content) once for every message the transport received but could not decode
    #: into a body at all (not its envelope, wrong types), after the connector counted
    #: it in ``stats["malformed"]``. Such a message is dropped; it must never be taken
    #: for a broken connection, and consumption goes on. A body that decodes is always
    #: handed to ``on_message``, however wrong its content: the daemon judges that.
    on_malformed: Callable[[str], None] | None = None

    #: True if this connector calls :attr:`on_replies` with the outcome of every
    #: :meth:`publish_reply` (which may publish later, from another thread): the
    #: daemon then counts replies as sent only when they were.
    reports_replies: bool = False
    #: ``on_replies(sent, failed)``, set by the daemon when :attr:`reports_replies`.
    on_replies: Callable[[int, int], None] | None = None

    def __init__(self) -> None:
        self.stats = {}

    @abstractmethod
    def connect(self, *, timeout: float | None = None) -> None:
        """Connect, or raise :class:`mcollective.errors.ConnectionFailed` within
        ``timeout`` seconds (``None``: the connector's own default).

        ``math.inf`` is how a node asks never to give up: keep trying, with a jittered,
        bounded pause between attempts, until it works or :meth:`close` is called from
        another thread (then raise ConnectionFailed); say why once, at warning level,
        rather than at every attempt. With a finite ``timeout`` (a client), a definite
        refusal (ECONNREFUSED) when there is no other broker to try should fail at
        once rather than wait out the timeout."""

    @abstractmethod
    def subscribe_node(self, identity: str, collectives: Iterable[str],
                       agents: Iterable[str]) -> None:
        """Receive broadcast requests for ``agents`` and direct requests for
        ``identity`` in each collective. Calling it again for the same identity replaces
        the subscriptions (agents or collectives changed on reload)."""

    @abstractmethod
    def unsubscribe_node(self, identity: str) -> None:
        """Stop receiving for ``identity`` and remove its queues."""

    @abstractmethod
    def subscribe_replies(self) -> str:
        """Create this client's private reply destination and return its name, to be put
        in requests' ``reply_to``. Removed again by :meth:`close`."""

    @abstractmethod
    def start(self, on_message: MessageHandler) -> None:
        """Start delivering received messages to ``on_message`` from a background
        thread. ``on_message`` should hand work off quickly."""

    @abstractmethod
    def publish_request(self, body: bytes, *, collective: str, agent: str, ttl: int,
                        targets: Sequence[str] | None = None) -> None:
        """Publish a request: broadcast to every node hosting ``agent`` in
        ``collective`` when ``targets`` is ``None``, else one direct message per target
        identity."""

    @abstractmethod
    def publish_reply(self, body: bytes, reply_to: str, *, ttl: int) -> None:
        """Publish a reply to a client's reply destination."""

    @abstractmethod
    def close(self) -> None:
        """Stop consuming, remove this process's private queues and disconnect."""

    def describe(self) -> dict[str, Any]:
        """What ``rpcutil daemon_stats`` and ``mco plugins`` show about the connection."""
        return {"stats": dict(self.stats)}

    # --- federation (optional) ------------------------------------------------------

    def relay_requests(self, collective: str, handler: RelayHandler) -> None:
        """Federation brokers: receive *every* request published in ``collective``
        (broadcast for any agent, direct to any identity), once, through ``handler``
        on the consuming thread, after :meth:`start`. Kept across reconnections and
        removed by :meth:`close`. Connectors that cannot raise NotImplementedError."""
        raise NotImplementedError(f"the {type(self).__name__} cannot relay requests "
                                  "(federation)")

    def relay_replies(self, collective: str, handler: RelayHandler) -> None:
        """Federation brokers: receive the replies sent to the reply destinations of
        clients whose main collective is ``collective`` (their names begin with it),
        through ``handler`` with the destination as ``route``."""
        raise NotImplementedError(f"the {type(self).__name__} cannot relay replies "
                                  "(federation)")
