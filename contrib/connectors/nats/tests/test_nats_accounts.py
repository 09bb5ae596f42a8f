"""``mco nats accounts``: least-privilege NATS users for a collective layout, on a
private ``nats-server`` started with exactly the printed authorization block.

Real daemons and the real ``mco`` work with only these rights (one node and one client
logging in with an NKEY), and each forbidden operation is refused by the server: a node
publishing a request, a node subscribing to another node's direct requests, a client
publishing into a collective it was not given, a client subscribing to another
account's replies."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from nats_test_support import nats_connector

from mcollective.errors import ConnectionFailed
from mcollective.testing import LocalCollective
from mcollective.testing.brokers import NatsServer, brokers_required
from mcollective.testing.collective import _script
from mcollective.testing.contracts import Inbox, wait_until

nkeys = pytest.importorskip("nkeys")

WEB, DB = "web1.example.net", "db1.example.net"


def new_nkey(directory: Path, name: str) -> tuple[str, Path]:
    """A user NKEY: its public key and a seed file (mode 0600)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    path = directory / f"{name}.nk"
    path.write_bytes(seed)
    path.chmod(0o600)
    return nkeys.from_seed(bytearray(seed)).public_key.decode(), path


class Site:
    """A layout (two collectives; nodes web1 with a password and db1 with an NKEY,
    clients alice with a password and bob with an NKEY, both given mcollective only),
    its printed authorization block and a private server running it."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.db_key, self.db_seed = new_nkey(root, "db1")
        self.bob_key, self.bob_seed = new_nkey(root, "bob")
        self.layout = root / "layout.yaml"
        self.layout.write_text(yaml.safe_dump({
            "collectives": ["mcollective", "uk"],
            "nodes": [{"account": "web1", "password": "web-pw", "identities": [WEB]},
                      {"account": "db1", "nkey": self.db_key, "identities": [DB]}],
            "clients": [{"account": "alice", "password": "alice-pw",
                         "collectives": ["mcollective"]},
                        {"account": "bob", "nkey": self.bob_key,
                         "collectives": ["mcollective"]}],
        }))
        proc = subprocess.run([*_script("mco"), "nats", "accounts", str(self.layout)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        self.authorization = proc.stdout

    def login(self, account: str) -> dict[str, Any]:
        """``plugin.nats.*`` settings logging in as ``account``."""
        if account == "db1":
            return {"plugin.nats.nkey_seed": str(self.db_seed)}
        if account == "bob":
            return {"plugin.nats.nkey_seed": str(self.bob_seed),
                    "plugin.nats.account": "bob"}
        password = {"web1": "web-pw", "alice": "alice-pw"}[account]
        return {"plugin.nats.user": account, "plugin.nats.password": password}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Site, NatsServer]]:
    site = Site(tmp_path / "site")
    server = NatsServer(site.authorization)
    if not server.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but nats-server is not installed")
        pytest.skip("nats-server is not installed")
    with server:
        yield site, server


def test_the_printed_block_is_valid_nats_server_configuration(tmp_path: Path) -> None:
    site = Site(tmp_path)
    if not NatsServer().binary:
        pytest.skip("nats-server is not installed")
    (tmp_path / "server.conf").write_text(site.authorization)
    proc = subprocess.run(["nats-server", "-t", "-c", str(tmp_path / "server.conf")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "# node db1: db1.example.net in mcollective, uk" in site.authorization
    assert site.db_key in site.authorization and "db1-pw" not in site.authorization


def test_the_collective_works_with_only_these_rights(site: tuple[Site, NatsServer],
                                                     tmp_path: Path) -> None:
    layout, server = site
    with LocalCollective(tmp_path / "c", connector="nats",
                         connector_url=server.url) as collective:
        for identity, account in ((WEB, "web1"), (DB, "db1")):
            collective.add_node(identity, wait=False, settings=layout.login(account))
        for node in collective.nodes.values():
            collective.wait_ready(node)
        for account in ("alice", "bob"):
            config = collective.write_client_config(f"{account}.cfg",
                                                    **layout.login(account))
            ping = collective.mco("ping", config=config)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            assert WEB in ping.stdout and DB in ping.stdout, ping.stdout
            rpc = collective.mco("rpc", "rpcutil", "ping", "-I", DB, config=config)
            assert rpc.returncode == 0 and DB in rpc.stdout, rpc.stdout + rpc.stderr
        for node in collective.nodes.values():
            assert "ermission" not in node.log(), node.log()[-2000:]


def test_a_node_cannot_publish_a_request(site: tuple[Site, NatsServer]) -> None:
    layout, server = site
    node = nats_connector(server.url, WEB, "mcollective,uk", **layout.login("web1"))
    listener = nats_connector(server.url, DB, "mcollective,uk", **layout.login("db1"))
    heard = Inbox()
    try:
        node.connect(timeout=10)
        node.start(lambda body, identity: None)
        listener.connect(timeout=10)
        listener.start(heard)
        listener.subscribe_node(DB, ["mcollective"], ["rpcutil"])
        node.publish_request(b"forged", collective="mcollective", agent="rpcutil", ttl=60)
        node.publish_request(b"forged", collective="mcollective", agent="rpcutil", ttl=60,
                             targets=[DB])
        assert wait_until(lambda: node.stats["refused"] >= 2), node.stats
        assert heard.items == []
    finally:
        node.close()
        listener.close()


def test_a_node_cannot_read_another_nodes_requests(site: tuple[Site, NatsServer]) -> None:
    layout, server = site
    node = nats_connector(server.url, WEB, "mcollective", **layout.login("web1"))
    try:
        node.connect(timeout=10)
        node.start(lambda body, identity: None)
        node.subscribe_node(WEB, ["mcollective"], ["rpcutil"])
        with pytest.raises(ConnectionFailed, match=r"refused.*mcollective\.node\.db1"):
            node.subscribe_node(DB, ["mcollective"], ["rpcutil"])
    finally:
        node.close()


def test_a_client_cannot_publish_into_a_collective_it_was_not_given(
        site: tuple[Site, NatsServer]) -> None:
    layout, server = site
    client = nats_connector(server.url, "alice-host", "mcollective,uk",
                            **layout.login("alice"))
    listener = nats_connector(server.url, WEB, "mcollective,uk", **layout.login("web1"))
    heard = Inbox()
    try:
        listener.connect(timeout=10)
        listener.start(heard)
        listener.subscribe_node(WEB, ["mcollective", "uk"], ["rpcutil"])
        client.connect(timeout=10)
        client.start(lambda body, identity: None)
        client.publish_request(b"into uk", collective="uk", agent="rpcutil", ttl=60)
        client.publish_request(b"into mcollective", collective="mcollective",
                               agent="rpcutil", ttl=60)
        assert wait_until(lambda: client.stats["refused"] >= 1), client.stats
        assert heard.wait_for(lambda items: (b"into mcollective", WEB) in items)
        assert (b"into uk", WEB) not in heard.items
    finally:
        client.close()
        listener.close()


def test_a_client_cannot_read_another_accounts_replies(site: tuple[Site, NatsServer]
                                                       ) -> None:
    layout, server = site
    # bob, logged in with his own NKEY, claims alice's account for his reply subject.
    bob = nats_connector(server.url, "bob-host", "mcollective",
                         **{**layout.login("bob"), "plugin.nats.account": "alice"})
    try:
        bob.connect(timeout=10)
        bob.start(lambda body, identity: None)
        with pytest.raises(ConnectionFailed, match=r"refused.*mcollective\.reply\.alice"):
            bob.subscribe_replies()
    finally:
        bob.close()
