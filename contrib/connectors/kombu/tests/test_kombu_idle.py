"""An idle connector sleeps until there is work or a timer is due (issue 14).

Counted, not timed: the consumer thread's calls into the transport while nothing
happens (it used to wake every DRAIN_TIMEOUT, ten times a second), and whether an
operation or close() still gets its attention at once (the test waits generously, but
before the change an idle filesystem consumer answered an operation only at its next
timeout).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kombu_test_support import AMQP_URL, Broker, Harness, require_broker, unique

IDLE = 2.0  # seconds of watching an idle consumer


@pytest.fixture(params=["filesystem", pytest.param("amqp", marks=pytest.mark.broker("amqp"))])
def idle_harness(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    if request.param == "amqp":
        require_broker("amqp", AMQP_URL)
        broker = Broker("amqp", AMQP_URL)
    else:
        broker = Broker("filesystem", f"filesystem://{tmp_path}/broker")
    h = Harness(broker)
    yield h
    h.close()
    broker.cleanup()


def count_drains(connector: Any) -> list[float]:
    """Wrap the consuming connection's drain_events; returns the list of call times."""
    calls: list[float] = []
    conn = connector._conn
    real = conn.drain_events

    def drain(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        return real(*args, **kwargs)

    conn.drain_events = drain
    return calls


def test_an_idle_consumer_does_not_poll(idle_harness: Harness) -> None:
    collective = unique("idle")
    connector, inbox = idle_harness.node("n1", [collective], ["rpcutil"])
    time.sleep(0.5)  # subscriptions settled
    calls = count_drains(connector)
    time.sleep(IDLE)
    # Before: IDLE / DRAIN_TIMEOUT = 20 calls. Now the thread sleeps until something
    # happens; one or two calls at most (a wait that began before counting ended).
    assert len(calls) <= 3, f"{len(calls)} drains in {IDLE}s of idleness"
    # ...and it is not deaf: a request still arrives.
    client = idle_harness.connector("client")
    client.publish_request(b"hello", collective=collective, agent="rpcutil", ttl=60)
    assert inbox.wait_count(1, timeout=30)


def test_operations_and_close_wake_an_idle_consumer(idle_harness: Harness) -> None:
    collective = unique("wake")
    connector, _ = idle_harness.node("n1", [collective], ["rpcutil"])
    time.sleep(0.5)
    calls = count_drains(connector)
    # A subscription change is performed by the consumer thread: it must be woken.
    done = threading.Event()

    def change() -> None:
        connector.subscribe_node("n1", [collective], ["rpcutil", "shell"])
        done.set()

    threading.Thread(target=change, daemon=True).start()
    assert done.wait(30)
    thread = connector._thread
    assert thread is not None and thread.is_alive()
    connector.close()
    assert not thread.is_alive()  # close() joined it: it was woken, not timed out
    assert len(calls) <= 5
