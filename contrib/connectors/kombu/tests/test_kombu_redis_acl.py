"""Least-privilege Redis ACL users (``mco broker redis``) on a private ``redis-server``:
the printed ``redis-cli`` set-up creates them; a node and a client logged in as those
users exchange broadcast and direct requests and replies; and each forbidden
operation is refused by Redis itself (NOPERM), one test per denial."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcollective.config import config_from_text
from mcollective.plugins import make_plugin_manager
from mcollective.testing.brokers import RedisServer, brokers_required
from mcollective.testing.contracts import ContractSecurity, Inbox

LAYOUT = {"collectives": ["ra", "rb"],
          "nodes": [{"account": "n1", "password": "p-n1", "identities": ["n1.example.net"],
                     "collectives": ["ra"]},
                    {"account": "n2", "password": "p-n2", "identities": ["n2.example.net"],
                     "collectives": ["ra"]}],
          "clients": [{"account": "alice", "password": "p-alice", "collectives": ["ra"]},
                      {"account": "bob", "password": "p-bob", "collectives": ["ra", "rb"]}]}


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer()
    if not server.binary or not shutil.which("redis-cli"):
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but redis-server/redis-cli is not installed")
        pytest.skip("redis-server or redis-cli is not installed")
    server.start()
    try:
        layout = tmp_path_factory.mktemp("acl") / "layout.yaml"
        layout.write_text(yaml.safe_dump(LAYOUT))
        mco = Path(sys.executable).parent / "mco"
        script = subprocess.run([str(mco), "broker", "redis", str(layout)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert script.returncode == 0, script.stderr
        run = subprocess.run(["sh", "-c", script.stdout], capture_output=True, text=True,
                             env={**os.environ, "REDISCLI": f"redis-cli -p {server.port}"},
                             timeout=60, check=False)
        assert run.returncode == 0 and "ERR" not in run.stdout, run.stdout + run.stderr
        yield server
    finally:
        server.stop()


def url(server: RedisServer, account: str) -> str:
    return f"redis://{account}:p-{account}@127.0.0.1:{server.port}/0"


def connector(server: RedisServer, identity: str, account: str) -> Any:
    plugins = make_plugin_manager()
    plugins.register("security", "contracttest", ContractSecurity)
    return plugins.create_connector(config_from_text(
        f"identity = {identity}\ncollectives = ra\nconnector = kombu\n"
        f"plugin.kombu.url = {url(server, account)}\nsecurityprovider = contracttest\n"))


def test_a_collective_works_with_only_these_rights(acl_redis: RedisServer) -> None:
    node = connector(acl_redis, "n1.example.net", "n1")
    client = connector(acl_redis, "client", "alice")
    try:
        node.connect(timeout=5)
        client.connect(timeout=5)
        reply_to = client.subscribe_replies()
        assert reply_to.startswith("ra.reply.alice.")
        replies = Inbox()
        client.start(replies)
        node.start(lambda body, _: node.publish_reply(b"re:" + body, reply_to, ttl=60))
        node.subscribe_node("n1.example.net", ["ra"], ["rpcutil"])
        client.publish_request(b"b", collective="ra", agent="rpcutil", ttl=60)
        client.publish_request(b"d", collective="ra", agent="rpcutil", ttl=60,
                               targets=["n1.example.net"])
        assert replies.wait_for(lambda items: {(b"re:b", None), (b"re:d", None)}
                                <= set(items))
        assert node.stats["disconnects"] == 0 and client.stats["disconnects"] == 0
    finally:
        node.close()
        client.close()


def denied(server: RedisServer, account: str, *command: str) -> None:
    import redis

    client = redis.Redis.from_url(url(server, account))
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.execute_command(*command)
    finally:
        client.close()


def test_a_node_cannot_publish_a_broadcast(acl_redis: RedisServer) -> None:
    denied(acl_redis, "n1", "PUBLISH", "/0.ra.agent.rpcutil", "forged")


def test_a_node_cannot_take_another_nodes_requests(acl_redis: RedisServer) -> None:
    denied(acl_redis, "n1", "RPOP", "ra.node.n2.example.net")
    denied(acl_redis, "n1", "LPUSH", "ra.node.n2.example.net", "forged")


def test_a_node_cannot_read_replies(acl_redis: RedisServer) -> None:
    denied(acl_redis, "n1", "LRANGE", "ra.reply.alice.client.1.ab", "0", "-1")
    denied(acl_redis, "n1", "RPOP", "ra.reply.alice.client.1.ab")


def test_a_client_cannot_read_another_clients_replies(acl_redis: RedisServer) -> None:
    denied(acl_redis, "alice", "RPOP", "ra.reply.bob.client.1.ab")
    denied(acl_redis, "alice", "LRANGE", "ra.reply.bob.client.1.ab", "0", "-1")


def test_a_client_cannot_publish_into_a_collective_it_was_not_given(
        acl_redis: RedisServer) -> None:
    denied(acl_redis, "alice", "PUBLISH", "/0.rb.agent.rpcutil", "forged")


def test_a_client_cannot_snoop_requests(acl_redis: RedisServer) -> None:
    denied(acl_redis, "alice", "SUBSCRIBE", "/0.ra.agent.rpcutil")


def test_nobody_may_drop_the_owners_hash(acl_redis: RedisServer) -> None:
    for account in ("n1", "alice"):
        denied(acl_redis, account, "DEL", "_mco.owners")


def test_clients_sweep_the_lists_of_dead_nodes(acl_redis: RedisServer) -> None:
    """Only clients may delete other processes' lists: the janitor runs with theirs."""
    import redis

    from mcollective.testing.contracts import wait_until
    from mcollective_connector_kombu.transports import OWNERS_KEY, sweep_redis

    plugins = make_plugin_manager()
    plugins.register("security", "contracttest", ContractSecurity)
    node = plugins.create_connector(config_from_text(
        f"identity = n2.example.net\ncollectives = ra\nconnector = kombu\n"
        f"plugin.kombu.url = {url(acl_redis, 'n2')}\nsecurityprovider = contracttest\n"
        "plugin.kombu.liveness_timeout = 3\n"))
    node.connect(timeout=5)
    node.start(lambda body, identity: None)
    node.subscribe_node("n2.example.net", ["ra"], ["rpcutil"])
    node.abandon()  # as kill -9 would leave it
    admin = redis.Redis(port=acl_redis.port)
    alice = redis.Redis.from_url(url(acl_redis, "alice"))
    try:
        assert admin.hexists(OWNERS_KEY, "ra.node.n2.example.net")
        assert wait_until(lambda: sweep_redis(alice) >= 1, timeout=20, step=0.5)
        assert not admin.hexists(OWNERS_KEY, "ra.node.n2.example.net")
        # A node may not sweep another's lists.
        node_client = redis.Redis.from_url(url(acl_redis, "n1"))
        with pytest.raises(redis.exceptions.NoPermissionError):
            sweep_redis(node_client)
        node_client.close()
    finally:
        admin.close()
        alice.close()
