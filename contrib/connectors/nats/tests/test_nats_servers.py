"""The NATS connector against private ``nats-server`` processes started by the test:
credentials (user/password, token) and their refusal, TLS with client certificates,
failover across a cluster when the connected server dies, and a subscription the
server's permissions refuse."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats_test_support import nats_connector

from mcollective.errors import ConnectionFailed
from mcollective.testing.brokers import NatsServer, brokers_required
from mcollective.testing.contracts import Inbox, wait_until
from mcollective.testing.tls import Pki, make_pki


def _server(config: str = "", *, scheme: str = "nats") -> NatsServer:
    server = NatsServer(config, scheme=scheme)
    if not server.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but nats-server is not installed")
        pytest.skip("nats-server is not installed")
    return server


def round_trip(url: str, **settings: object) -> None:
    """A node and a client on ``url``: a direct request and its reply arrive."""
    node = nats_connector(url, "n1", **settings)
    client = nats_connector(url, "client", **settings)
    try:
        node.connect(timeout=10)
        client.connect(timeout=10)
        reply_to = client.subscribe_replies()
        replies = Inbox()
        client.start(replies)

        def answer(body: bytes, identity: str | None) -> None:
            node.publish_reply(b"pong:" + body, reply_to, ttl=60)

        node.start(answer)
        node.subscribe_node("n1", ["mcollective"], ["rpcutil"])
        client.publish_request(b"ping", collective="mcollective", agent="rpcutil", ttl=60,
                               targets=["n1"])
        assert replies.wait_for(lambda items: (b"pong:ping", None) in items)
    finally:
        node.close()
        client.close()


def test_user_and_password(tmp_path: Path) -> None:
    with _server('authorization { user: mco, password: "s3cret" }') as server:
        round_trip(server.url, **{"plugin.nats.user": "mco", "plugin.nats.password": "s3cret"})
        wrong = nats_connector(server.url, **{"plugin.nats.user": "mco",
                                               "plugin.nats.password": "wrong"})
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as refused:
            wrong.connect(timeout=2)
        wrong.close()
        assert time.monotonic() - started < 15
        assert "Authorization" in str(refused.value)
        assert "wrong" not in str(refused.value)  # the password is masked


def test_credentials_in_the_url_are_masked(tmp_path: Path) -> None:
    with _server('authorization { user: mco, password: "s3cret" }') as server:
        url = f"nats://mco:s3cret@127.0.0.1:{server.port}"
        round_trip(url)
        connector = nats_connector(url)
        connector.connect(timeout=5)
        try:
            info = connector.describe()
            assert "s3cret" not in str(info) and info["account"] == "mco"
            assert connector.subscribe_replies().startswith("mcollective.reply.mco.")
        finally:
            connector.close()


def test_token(tmp_path: Path) -> None:
    with _server('authorization { token: "t0ken" }') as server:
        round_trip(server.url, **{"plugin.nats.token": "t0ken"})
        with pytest.raises(ConnectionFailed):
            nats_connector(server.url, **{"plugin.nats.token": "nope"}).connect(timeout=1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pytest.importorskip("cryptography")
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_with_client_certificates(pki: Pki) -> None:
    config = (f'tls {{ cert_file: "{pki.server.cert}"\n key_file: "{pki.server.key}"\n'
              f' ca_file: "{pki.ca.path}"\n verify: true }}')
    with _server(config, scheme="tls") as server:
        round_trip(server.url, **{"plugin.nats.ssl_ca": pki.ca.path,
                                  "plugin.nats.ssl_cert": pki.client.cert,
                                  "plugin.nats.ssl_key": pki.client.key})
        # A connector that trusts another CA refuses the server.
        distrust = nats_connector(server.url, **{"plugin.nats.ssl_ca": pki.other_ca.path,
                                                 "plugin.nats.ssl_cert": pki.client.cert,
                                                 "plugin.nats.ssl_key": pki.client.key})
        with pytest.raises(ConnectionFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            distrust.connect(timeout=2)
        distrust.close()
        # Without a client certificate the server refuses us.
        anonymous = nats_connector(server.url, **{"plugin.nats.ssl_ca": pki.ca.path})
        with pytest.raises(ConnectionFailed):
            anonymous.connect(timeout=2)
        anonymous.close()


@pytest.fixture
def cluster() -> Iterator[list[NatsServer]]:
    servers = NatsServer.cluster([_server(), _server()])
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.close()


def test_failover_when_the_connected_server_dies(cluster: list[NatsServer]) -> None:
    """Node and client connect to the first server of their list; it is killed; both
    move to the second and requests sent after the move are answered."""
    first, second = cluster
    urls = f"{first.url},{second.url}"
    fast = {"plugin.nats.max_backoff": 0.5}
    node = nats_connector(urls, "n1", **fast)
    client = nats_connector(urls, "client", **fast)
    try:
        node.connect(timeout=10)
        client.connect(timeout=10)
        assert node.describe()["broker"] == first.url
        reply_to = client.subscribe_replies()
        replies = Inbox()
        client.start(replies)
        node.start(lambda body, _: node.publish_reply(b"re:" + body, reply_to, ttl=60))
        node.subscribe_node("n1", ["mcollective"], ["rpcutil"])
        # Routes between the servers carry interest a moment after subscribing.
        first.stop()
        assert wait_until(lambda: node.stats["reconnects"] >= 1
                          and client.stats["reconnects"] >= 1, timeout=30)
        assert node.describe()["broker"] == second.url
        assert node.stats["failovers"] >= 1 and node.stats["disconnects"] >= 1
        for i in range(100):
            client.publish_request(f"r{i}".encode(), collective="mcollective",
                                   agent="rpcutil", ttl=60,
                                   targets=None if i % 2 else ["n1"])
        expected = {(f"re:r{i}".encode(), None) for i in range(100)}
        assert replies.wait_for(lambda items: expected <= set(items), timeout=30), \
            f"{len(expected - set(replies.items))} replies lost after the failover"
    finally:
        node.close()
        client.close()


def test_a_client_waits_for_a_server_that_comes_later() -> None:
    """Start-up retries: a daemon started before its server connects once it runs."""
    server = _server()
    connector = nats_connector(server.url, **{"plugin.nats.max_backoff": 0.2})
    try:
        import threading

        threading.Timer(1.0, server.start).start()
        connector.connect(timeout=20)
        assert connector.describe()["connected"]
    finally:
        connector.close()
        server.close()


def test_a_refused_subscription_is_an_error() -> None:
    config = ('authorization { users = [ { user: n1, password: pw, permissions: {'
              ' subscribe: { allow: ["mcollective.node.n1", "mcollective.broadcast.agent.>"] },'
              ' publish: { allow: ["mcollective.reply.>"] } } } ] }')
    with _server(config) as server:
        node = nats_connector(server.url, "n1", **{"plugin.nats.user": "n1",
                                                   "plugin.nats.password": "pw"})
        try:
            node.connect(timeout=5)
            node.start(lambda body, identity: None)
            node.subscribe_node("n1", ["mcollective"], ["rpcutil"])
            with pytest.raises(ConnectionFailed, match=r"refused.*mcollective\.node\.n2"):
                node.subscribe_node("n2", ["mcollective"], ["rpcutil"])
            # NATS does not answer a publish: a refused one is logged and counted
            # (the server says so on the connection), and nobody receives it.
            listener = nats_connector(server.url, "n1", **{"plugin.nats.user": "n1",
                                                           "plugin.nats.password": "pw"})
            listener.connect(timeout=5)
            heard = Inbox()
            listener.start(heard)
            listener.subscribe_node("n1", ["mcollective"], ["rpcutil"])
            node.publish_request(b"forged", collective="mcollective", agent="rpcutil",
                                 ttl=60)
            assert wait_until(lambda: node.stats["refused"] >= 2)
            listener.close()
            assert heard.items == []
        finally:
            node.close()


def test_a_message_larger_than_the_servers_max_payload_is_a_clear_error() -> None:
    with _server("max_payload: 4096") as server:
        client = nats_connector(server.url, "client")
        try:
            client.connect(timeout=5)
            with pytest.raises(ConnectionFailed, match="MaxPayloadError"):
                client.publish_request(b"x" * 8192, collective="mcollective",
                                       agent="rpcutil", ttl=60)
            # The connection is fine afterwards.
            client.publish_request(b"small", collective="mcollective", agent="rpcutil",
                                   ttl=60)
            assert client.stats["publish_errors"] == 1
        finally:
            client.close()
