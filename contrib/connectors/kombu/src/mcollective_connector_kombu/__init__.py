"""mcollective's connector for kombu: RabbitMQ, Redis, or no broker at all.

Features
========
* Broadcast requests to the nodes hosting an agent (a topic exchange per collective),
  direct requests to named nodes (a direct exchange per collective), replies to a
  private queue per client process (DESIGN §5).
* Brokers: RabbitMQ (``amqp://``, ``amqps://``, ``pyamqp://``), Redis (``redis://``,
  ``rediss://``), SQS + SNS (``sqs://``, extra ``[sqs]``), the embedded filesystem
  broker (``filesystem://``, the default: no server to install) and ``memory://``
  (one process, for tests). Several URLs are failover brokers.
* One process can host many node identities; every message says which one it is for.
* Queues of nodes and clients that stop are removed (AMQP: exclusive/auto-delete with
  an ``x-expires`` backstop; filesystem and Redis: by a janitor, even after
  ``kill -9``; Redis broadcast is PUB/SUB, so dead nodes accumulate nothing).
* Request TTL as per-message expiration on AMQP; elsewhere nodes drop stale requests.

Connection string
=================
``plugin.kombu.url``:

* ``filesystem://`` (default): the embedded broker in ``<statedir>/broker``;
  ``filesystem:///absolute/path`` puts it elsewhere (all participants must agree);
* ``amqp://user:password@host:5672/vhost`` (``amqps://`` for TLS);
* ``redis://[:password@]host:6379/db`` (``rediss://`` for TLS);
* ``memory://``: in-process only.

Options
=======
``plugin.kombu.polling_interval`` (seconds; default per transport: filesystem 5,
memory 0.01, redis 0.25), ``plugin.kombu.heartbeat`` (AMQP, default 30, 0 disables),
``plugin.kombu.queue_expires`` (AMQP ``x-expires`` backstop, default 300),
``plugin.kombu.janitor_interval`` (filesystem and redis, default 5), and the failover,
TLS, credential, Redis liveness and SQS keys listed in ``docs/middleware.md``. Core keys used:
``connection_timeout`` (bounds each connection attempt, 10 s when unset; how long to
keep trying is the caller's ``connect(timeout=...)``) and ``publish_timeout``.
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"


def import_kombu() -> None:
    """Import ``kombu.serialization`` (every other kombu module needs it) without
    PyYAML, and register kombu's ``yaml`` serializer to import PyYAML when first used.

    kombu imports PyYAML when it is loaded, to register that serializer; this connector
    sends and reads raw bytes and never uses it, and importing PyYAML is about a fifth of
    what importing kombu costs: measured with callgrind, ``import kombu.messaging``
    executes 500 million instructions, 411 million without PyYAML; a tenth of an
    interactive ``mco`` run (issue 14). Called by the plugin's factory before it imports
    the connector; importing this package does no work."""
    if "kombu.serialization" in sys.modules or "yaml" in sys.modules:
        return
    from mcollective.entry_point_index import import_metadata_lazily
    from mcollective.plugins import entry_points

    # kombu.utils.compat imports importlib.metadata for the scan replaced below: a
    # module whose import (with the email package) costs more than the rest of it.
    import_metadata_lazily()
    import kombu.utils.compat as compat

    # kombu.serialization also reads every installed distribution's entry points (for
    # the serializers of kombu's extensions): mcollective has read them all already.
    scan = compat.entrypoints
    compat.entrypoints = lambda group: ((ep, ep.load()) for ep in entry_points(group))
    sys.modules["yaml"] = None  # type: ignore[assignment]  # ``import yaml`` fails
    try:
        import kombu.serialization as serialization
    finally:
        compat.entrypoints = scan
        if "yaml" in sys.modules and sys.modules["yaml"] is None:
            del sys.modules["yaml"]

    def dump(obj: object) -> str:
        import yaml

        return str(yaml.safe_dump(obj))

    def load(text: str | bytes) -> object:
        import yaml

        return yaml.safe_load(text)

    serialization.registry.register("yaml", dump, load, content_type="application/x-yaml",
                                    content_encoding="utf-8")


__all__ = ["__version__", "import_kombu"]
