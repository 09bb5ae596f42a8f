"""Child-process bodies for the multi-process tests (importable by ``spawn``).

Each is a plain function taking picklable arguments, so that the tests can run real
concurrent processes against one broker directory.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def write_messages(root: str, queue: str, writer: int, count: int, size: int = 0) -> None:
    """Put ``count`` JSON messages ``{"w": writer, "i": i, "pad": ...}`` on ``queue``."""
    from mcollective_connector_kombu.fsbroker import FsBroker

    broker = FsBroker(root)
    pad = "x" * size
    for i in range(count):
        assert broker.put(queue, json.dumps({"w": writer, "i": i, "pad": pad}).encode())


def read_messages(root: str, queue: str, results: Any, done: Any) -> None:
    """Claim messages until ``done`` is set and the queue is empty; send back
    ``(writer, i)`` in the order this reader got them."""
    from mcollective_connector_kombu.fsbroker import FsBroker

    broker = FsBroker(root)
    got = []
    while True:
        data = broker.claim(queue)
        if data is None:
            if not done.is_set():
                time.sleep(0.001)
                continue
            # The writers have finished: one last look, then stop.
            data = broker.claim(queue)
            if data is None:
                break
        message = json.loads(data)
        got.append((message["w"], message["i"]))
    results.put((os.getpid(), got))


def hold_queue(root: str, queue: str, bindings: list[tuple[str, str, str]],
               ready: Any) -> None:
    """Own an auto-delete queue bound as given, then wait to be killed."""
    from mcollective_connector_kombu.fsbroker import FsBroker

    broker = FsBroker(root)
    broker.ensure_layout()
    session = broker.open_session()
    broker.declare_queue(queue, owner=session.token)
    session.owned.add(queue)
    for exchange, kind, key in bindings:
        broker.declare_exchange(exchange, kind)
        broker.bind(exchange, key, queue)
    broker.set_bell(queue, session)
    ready.set()
    time.sleep(600)


def run_node(root: str, identity: str, collective: str, agents: list[str],
             ready: Any) -> None:
    """A node daemon in miniature: the connector on the filesystem broker, answering
    every request with ``<identity>:<body>`` to the reply queue named in the body."""
    from mcollective.config import config_from_text
    from mcollective_connector_kombu.connector import KombuConnector
    from mcollective_connector_kombu.options import load_options

    config = config_from_text(f"identity = {identity}\n"
                              f"plugin.kombu.url = filesystem://{root}\n")
    connector = KombuConnector(load_options("kombu", config))
    connector.connect(timeout=10)
    connector.subscribe_node(identity, [collective], agents)

    def serve(body: bytes, ident: str | None) -> None:
        reply_to, _, payload = body.partition(b"|")
        connector.publish_reply(f"{ident}:".encode() + payload, reply_to.decode(), ttl=60)

    connector.start(serve)
    ready.set()
    time.sleep(600)
