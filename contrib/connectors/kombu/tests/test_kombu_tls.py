"""``amqps://`` end to end: the real RabbitMQ behind a TLS-terminating proxy started by
the test (RabbitMQ itself has no TLS listener here), with throwaway certificates.

The proxy requires a client certificate signed by the test CA, so a working round trip
exercises ``ssl_ca``, ``ssl_cert`` and ``ssl_key`` together; a connector that trusts
another CA must fail with ConnectionFailed within its connection timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kombu_test_support import AMQP_URL, Broker, Harness, Inbox, require_broker

from mcollective.config import config_from_text
from mcollective.errors import ConnectionFailed
from mcollective.plugins import make_plugin_manager
from mcollective.testing.brokers import TlsProxy, with_port
from mcollective.testing.tls import Pki, make_pki
from mcollective_connector_kombu.connector import KombuConnector

pytest.importorskip("cryptography")

pytestmark = pytest.mark.broker("amqp")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_proxy(pki: Pki) -> Iterator[TlsProxy]:
    """A TLS listener in front of RabbitMQ that demands a client certificate from our
    CA."""
    require_broker("amqp", AMQP_URL)
    parts = urlsplit(AMQP_URL)
    proxy = TlsProxy(parts.hostname or "127.0.0.1", parts.port or 5672,
                     certfile=str(pki.server.cert), keyfile=str(pki.server.key),
                     client_ca=str(pki.ca.path))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def tls_broker(tls_proxy: TlsProxy) -> Iterator[Broker]:
    url = with_port(AMQP_URL, tls_proxy.port).replace("amqp://", "amqps://", 1)
    assert url.startswith("amqps://")
    broker = Broker("amqp", url)
    yield broker
    broker.url = AMQP_URL  # clean up over plain AMQP, not through the proxy
    broker.cleanup()


def tls_extra(pki: Pki, ca: Path | None = None) -> str:
    return (f"plugin.kombu.ssl_ca = {ca or pki.ca.path}\n"
            f"plugin.kombu.ssl_cert = {pki.client.cert}\n"
            f"plugin.kombu.ssl_key = {pki.client.key}\n")


def test_amqps_round_trip_with_client_certificate(tls_broker: Broker, pki: Pki) -> None:
    harness = Harness(tls_broker)
    try:
        c = tls_broker.collective()
        node = harness.connector("n1", tls_extra(pki))
        node.subscribe_node("n1", [c], ["echo"])

        def serve(body: bytes, identity: str | None) -> None:
            reply_to, _, payload = body.partition(b"|")
            node.publish_reply(f"{identity}:".encode() + payload, reply_to.decode(),
                               ttl=60)

        node.start(serve)
        client = harness.connector("client", tls_extra(pki))
        reply_to = client.subscribe_replies()
        inbox = Inbox()
        client.start(inbox)
        for i in range(5):
            client.publish_request(reply_to.encode() + b"|" + str(i).encode(),
                                   collective=c, agent="echo", ttl=60)
        assert inbox.wait_count(5)
        assert inbox.bodies() == [f"n1:{i}".encode() for i in range(5)]
        assert node.describe()["url"].startswith("amqps://")
    finally:
        harness.close()


def test_amqps_with_an_untrusted_server_fails_cleanly(tls_broker: Broker, pki: Pki) -> None:
    config = config_from_text(
        f"identity = client\nplugin.kombu.url = {tls_broker.url}\n"
        f"connection_timeout = 2\n{tls_extra(pki, pki.other_ca.path)}")
    connector = make_plugin_manager().create_connector(config)
    assert isinstance(connector, KombuConnector)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionFailed, match=r"(?i)certificate verify failed"):
            connector.connect()
        elapsed = time.monotonic() - started
        # Bounded by the 2 s connection timeout, with room for a loaded CI machine, and
        # well below kombu's own 10 s default: proof the timeout is honoured.
        assert elapsed < 8, f"took {elapsed:.1f}s for a 2s connection timeout"
    finally:
        connector.close()


def test_amqps_without_a_client_certificate_is_refused(
        tls_broker: Broker, tls_proxy: TlsProxy, pki: Pki) -> None:
    config = config_from_text(
        f"identity = client\nplugin.kombu.url = {tls_broker.url}\n"
        f"connection_timeout = 2\nplugin.kombu.ssl_ca = {pki.ca.path}\n")
    connector = make_plugin_manager().create_connector(config)
    assert isinstance(connector, KombuConnector)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionFailed, match="cannot connect to amqps://"):
            connector.connect()
        elapsed = time.monotonic() - started
        # Bounded by the 2 s connection timeout, with room for a loaded CI machine, and
        # well below kombu's own 10 s default: proof the timeout is honoured.
        assert elapsed < 8, f"took {elapsed:.1f}s for a 2s connection timeout"
        assert tls_proxy.handshake_failures >= 1 and tls_proxy.connections == 0
    finally:
        connector.close()
