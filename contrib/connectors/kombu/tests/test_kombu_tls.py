"""``amqps://`` end to end: the real RabbitMQ behind a TLS-terminating proxy started by
the test (RabbitMQ itself has no TLS listener here), with throwaway certificates.

The proxy requires a client certificate signed by the test CA, so a working round trip
exercises ``ssl_ca``, ``ssl_cert`` and ``ssl_key`` together; a connector that trusts
another CA must fail with ConnectionFailed within its connection timeout.
"""

from __future__ import annotations

import datetime
import ipaddress
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kombu_test_support import AMQP_URL, Broker, Harness, Inbox, require_broker

from mcollective.config import config_from_text
from mcollective.errors import ConnectionFailed
from mcollective.plugins import make_plugin_manager
from mcollective.testing.brokers import TlsProxy, with_port
from mcollective_connector_kombu.connector import KombuConnector

pytest.importorskip("cryptography")

pytestmark = pytest.mark.broker("amqp")


@dataclass
class Issued:
    cert: Path
    key: Path


def _write(directory: Path, name: str, cert: Any, key: Any) -> Issued:
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key_path.chmod(0o600)
    return Issued(cert_path, key_path)


class CA:
    """A throwaway certificate authority that issues leaf certificates."""

    def __init__(self, directory: Path, name: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False),
                critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256()))
        self.path = _write(directory, name, self.cert, self.key).cert

    def issue(self, name: str, *, server: bool) -> Issued:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server
                 else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"),
                 x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return _write(self.directory, name, builder.sign(self.key, hashes.SHA256()), key)


@dataclass
class Pki:
    ca: CA
    other_ca: CA
    server: Issued
    client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CA(directory, "mco-test-ca")
    return Pki(ca, CA(directory, "mco-other-ca"), ca.issue("server", server=True),
               ca.issue("client", server=False))


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
