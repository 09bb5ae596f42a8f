"""Least-privilege RabbitMQ accounts (``mco broker rabbitmq``) on a private RabbitMQ
node with the management plugin, started once for this module:

* the printed ``rabbitmqctl`` set-up, run as a script, and ``--apply`` through the
  management API create the vhosts, accounts, permissions and durable exchanges;
* real daemons and the real ``mco``, each logged in with its own account, work with
  only these rights (ping, rpc, discovery, direct requests, a sub-collective);
* every forbidden operation is refused by the broker itself (403 ACCESS_REFUSED), one
  test per denial, with raw AMQP connections of those accounts;
* the two vhosts are two isolated networks: an account of one cannot enter the other,
  and alice reaches collective "far" (vhost /mco-other) only through a federation
  broker holding an account on each side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fleet import FLEET, lines, ok, rpc_json

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import RabbitMQServer, brokers_required

pytestmark = [pytest.mark.broker("amqp"), pytest.mark.slow]

VHOST = "/mco-accounts"
OTHER_VHOST = "/mco-other"
PASSWORD = "pw-{}"


def other_layout() -> dict[str, Any]:
    """Collective "far" on its own vhost: another network's broker."""
    return {"vhost": OTHER_VHOST, "collectives": ["far", "main"],
            "nodes": [{"account": "far1", "password": PASSWORD.format("far1"),
                       "identities": ["far1.example.org"], "collectives": ["far"]}],
            "clients": [{"account": "carol", "password": PASSWORD.format("carol"),
                         "collectives": ["far"]}],
            # The federation's account here: publishes into far, collects the replies
            # to clients of main.
            "federations": [{"account": "fedout", "password": PASSWORD.format("fedout"),
                             "publishes": ["far"], "collects": ["main"]}]}


def layout(vhost: str) -> dict[str, Any]:
    return {
        "vhost": vhost,
        "collectives": ["main", "uk", "secret", "far"],
        "nodes": [{"account": name.split(".")[0],
                   "password": PASSWORD.format(name.split(".")[0]),
                   "identities": [name],
                   "collectives": ["main", "uk"] if "web1" in name else ["main"],
                   "registration": name.startswith("web1")}
                  for name in FLEET],
        "clients": [{"account": "alice", "password": PASSWORD.format("alice"),
                     "collectives": ["main", "uk", "far"]},
                    {"account": "bob", "password": PASSWORD.format("bob"),
                     "collectives": ["main"]}],
        # The federation's account here: relays requests for far, answers main's clients.
        "federations": [{"account": "fedin", "password": PASSWORD.format("fedin"),
                         "relays": ["far"], "answers": ["main"]}],
    }


def url_of(server: RabbitMQServer, account: str, vhost: str = VHOST) -> str:
    from urllib.parse import quote

    password = PASSWORD.format(account)
    return f"amqp://{account}:{password}@127.0.0.1:{server.port}/{quote(vhost, safe='')}"


def mco_broker(*args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    mco = Path(sys.executable).parent / "mco"
    return subprocess.run([str(mco), "broker", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env)


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQServer]:
    server = RabbitMQServer(plugins=("rabbitmq_management",))
    if not server.binary:
        if brokers_required():
            pytest.fail("MCO_REQUIRE_BROKERS=1 but rabbitmq-server is not installed")
        pytest.skip("rabbitmq-server is not installed")
    try:
        server.start(timeout=120)
        root = tmp_path_factory.mktemp("accounts")
        # 1. Through the management API (one HTTP call per setting: quick).
        (root / "layout.yaml").write_text(yaml.safe_dump(layout(VHOST)))
        wait_for_management(server)
        applied = mco_broker("rabbitmq", str(root / "layout.yaml"), "--apply",
                             server.management_url)
        assert applied.returncode == 0, applied.stderr
        assert "applied: topic permissions of alice on mcollective_reply" in applied.stdout
        # 2. The printed rabbitmqctl set-up, run as an administrator would (each
        # rabbitmqctl call starts an Erlang VM: the smaller layout).
        (root / "other.yaml").write_text(yaml.safe_dump(other_layout()))
        script = mco_broker("rabbitmq", str(root / "other.yaml"))
        assert script.returncode == 0, script.stderr
        env = {**server.env(),
               "PATH": f"{os.path.dirname(server.binary or '')}:{os.environ['PATH']}"}
        run = subprocess.run(["sh", "-c", script.stdout], env=env, capture_output=True,
                             text=True, timeout=300, check=False)
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
        yield server
    finally:
        server.close()


def wait_for_management(server: RabbitMQServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server.management_port}/",
                                   timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_set_up_created_accounts_and_exchanges(rabbit: RabbitMQServer) -> None:
    for vhost, accounts, collective in ((VHOST, {"web1", "web2", "db1", "alice", "bob",
                                                 "fedin"}, "main"),
                                        (OTHER_VHOST, {"far1", "carol", "fedout"}, "far")):
        users = rabbit.ctl("list_permissions", "-p", vhost, "--silent")
        assert {line.split()[0] for line in users.splitlines()} == accounts | {"guest"} \
            or {line.split()[0] for line in users.splitlines()} == accounts
        exchanges = rabbit.ctl("list_exchanges", "-p", vhost, "name", "type", "durable",
                               "--silent")
        assert f"{collective}.broadcast\ttopic\ttrue" in exchanges
        assert f"{collective}.directed\ttopic\ttrue" in exchanges
        assert "mcollective_reply\ttopic\ttrue" in exchanges


# --- the collective works with only these rights ----------------------------------------


@pytest.fixture(scope="module")
def fleet(rabbit: RabbitMQServer, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[LocalCollective]:
    root = tmp_path_factory.mktemp("least-privilege")
    collective = LocalCollective(root, connector_url=url_of(rabbit, "alice"),
                                 collectives=("main", "uk", "far"),
                                 extra_config={"plugin.kombu.max_backoff": 1})
    try:
        for identity, (facts, classes) in FLEET.items():
            account = identity.split(".")[0]
            collectives = ["main", "uk"] if account == "web1" else ["main"]
            collective.add_node(identity, facts=facts, classes=classes, wait=False,
                                collectives=collectives,
                                settings={"plugin.kombu.url": url_of(rabbit, account),
                                          "registerinterval": 1 if account == "web1"
                                          else 0})
        for node in collective.nodes.values():
            collective.wait_ready(node)
        yield collective
    finally:
        collective.stop_all()


def test_ping_rpc_and_discovery_with_least_privilege(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("ping"))
    assert sorted(line.split()[0] for line in proc.stdout.splitlines()
                  if "time=" in line) == sorted(FLEET)
    assert lines(ok(fleet.mco("find", "-F", "country=uk"))) == [
        "db1.example.net", "web1.example.net"]
    replies = rpc_json(fleet, "rpcutil", "get_fact", "fact=role", "-I", "db1.example.net")
    assert [(r["sender"], r["data"]["value"]) for r in replies] == [("db1.example.net", "db")]
    assert lines(ok(fleet.mco("find", "-T", "uk"))) == ["web1.example.net"]


def test_no_node_logged_a_refusal(fleet: LocalCollective) -> None:
    ok(fleet.mco("ping"))
    for node in fleet.nodes.values():
        assert "ACCESS_REFUSED" not in node.log(), node.log()[-2000:]


def test_bob_works_too_and_cannot_target_uk(fleet: LocalCollective, rabbit: RabbitMQServer,
                                            tmp_path: Path) -> None:
    config = fleet.write_client_config("bob.cfg", **{
        "plugin.kombu.url": url_of(rabbit, "bob"), "collectives": "main",
        "main_collective": "main", "identity": "bob-host"})
    proc = ok(fleet.mco("ping", config=config))
    assert len([line for line in proc.stdout.splitlines() if "time=" in line]) == 3


# --- each forbidden operation, refused by the broker -------------------------------------


def refused(url: str, action: Callable[[Any], Any]) -> str:
    """Run ``action(channel)`` on a raw AMQP connection of ``url``'s account; the
    broker's 403 refusal (publishes are refused asynchronously: a synchronous call
    after them brings the refusal back). Fails if the broker allowed it."""
    from urllib.parse import unquote, urlsplit

    import amqp

    parts = urlsplit(url)
    conn = amqp.Connection(f"127.0.0.1:{parts.port}", userid=parts.username,
                           password=parts.password,
                           virtual_host=unquote(parts.path[1:]) or "/", connect_timeout=10)
    conn.connect()
    try:
        channel = conn.channel()
        try:
            action(channel)
            channel.exchange_declare("mcollective_reply", "topic", passive=True)
        except amqp.exceptions.AccessRefused as exc:
            return str(exc)
        pytest.fail(f"the broker allowed it ({url.split('@')[0].split('//')[1]})")
    finally:
        try:
            conn.close()
        except Exception:
            conn.collect()
    return ""


def publish(exchange: str, key: str) -> Callable[[Any], Any]:
    import amqp

    return lambda ch: ch.basic_publish(amqp.Message(b"forged"), exchange=exchange,
                                       routing_key=key)


def test_a_node_cannot_publish_a_broadcast_request(rabbit: RabbitMQServer) -> None:
    why = refused(url_of(rabbit, "db1"), publish("main.broadcast", "agent.rpcutil"))
    assert "main.broadcast" in why


def test_a_registering_node_may_publish_registration_only(rabbit: RabbitMQServer) -> None:
    why = refused(url_of(rabbit, "web1"), publish("main.broadcast", "agent.rpcutil"))
    assert "agent.rpcutil" in why  # the topic permission, not the exchange


def test_a_node_cannot_publish_a_direct_request(rabbit: RabbitMQServer) -> None:
    refused(url_of(rabbit, "db1"), publish("main.directed", "web1.example.net"))


def test_a_node_cannot_use_the_default_exchange(rabbit: RabbitMQServer) -> None:
    """The default exchange reaches any queue: another node's, a client's."""
    why = refused(url_of(rabbit, "db1"), publish("", "main.node.web1.example.net"))
    assert "amq.default" in why


def test_a_node_cannot_consume_another_nodes_queue(rabbit: RabbitMQServer,
                                                   fleet: LocalCollective) -> None:
    refused(url_of(rabbit, "db1"),
            lambda ch: ch.basic_consume("main.node.web1.example.net", callback=print))


def test_a_node_cannot_bind_another_identity(rabbit: RabbitMQServer,
                                             fleet: LocalCollective) -> None:
    """Its own queue, bound to another node's direct requests: refused by topic
    permissions (only its own identity may be a binding key)."""
    why = refused(url_of(rabbit, "db1"), lambda ch: ch.queue_bind(
        "main.node.db1.example.net", "main.directed", "web1.example.net"))
    assert "web1.example.net" in why


def test_a_node_cannot_read_replies(rabbit: RabbitMQServer, fleet: LocalCollective) -> None:
    refused(url_of(rabbit, "db1"), lambda ch: ch.queue_bind(
        "main.node.db1.example.net", "mcollective_reply", "main.reply.alice.#"))


def test_a_client_cannot_read_another_clients_replies(rabbit: RabbitMQServer) -> None:
    """Neither by consuming bob's reply queue, nor by binding its own reply queue
    with bob's reply names."""
    bob_queue = "main.reply.bob.host.1.0123456789abcdef"

    def declare_and_consume(ch: Any) -> None:
        ch.basic_consume(bob_queue, callback=print)

    refused(url_of(rabbit, "alice"), declare_and_consume)
    mine = "main.reply.alice.host.1.0123456789abcdef"

    def bind_to_bobs(ch: Any) -> None:
        ch.queue_declare(mine, exclusive=True, auto_delete=True)
        ch.queue_bind(mine, "mcollective_reply", bob_queue)

    assert bob_queue in refused(url_of(rabbit, "alice"), bind_to_bobs)
    refused(url_of(rabbit, "alice"),
            lambda ch: ch.queue_declare(bob_queue, exclusive=True, auto_delete=True))


def test_a_client_cannot_publish_into_a_collective_it_was_not_given(
        rabbit: RabbitMQServer) -> None:
    refused(url_of(rabbit, "bob"), publish("uk.broadcast", "agent.rpcutil"))
    refused(url_of(rabbit, "alice"), publish("secret.directed", "web1.example.net"))


def test_a_client_cannot_forge_replies(rabbit: RabbitMQServer) -> None:
    refused(url_of(rabbit, "alice"), publish("mcollective_reply", "main.reply.bob.x.1.y"))


def test_nobody_may_delete_an_exchange(rabbit: RabbitMQServer) -> None:
    for account in ("alice", "web1"):
        refused(url_of(rabbit, account), lambda ch: ch.exchange_delete("main.broadcast"))


def test_an_account_cannot_enter_another_vhost(rabbit: RabbitMQServer) -> None:
    """Isolation between collectives on separate vhosts: alice of /mco-accounts has no
    access to /mco-other (collective "far"), carol of /mco-other none to ours."""
    from mcollective.testing.brokers import amqp_login

    assert amqp_login(url_of(rabbit, "alice"), 10) is None
    assert amqp_login(url_of(rabbit, "carol", OTHER_VHOST), 10) is None
    why = amqp_login(url_of(rabbit, "alice", OTHER_VHOST), 10)
    assert why is not None and "access to vhost" in why.lower(), why


# --- a federation between the two vhosts, each side with its own account -----------------


def test_alice_reaches_far_through_the_federation(
        rabbit: RabbitMQServer, fleet: LocalCollective, tmp_path: Path) -> None:
    """alice's account has no access to /mco-other, where far's nodes are; the
    federation broker (account fedin on our vhost, fedout on the other) forwards her
    request and her replies come back; its audit log says so."""
    far = LocalCollective(tmp_path / "far", connector_url=url_of(rabbit, "carol",
                                                                   OTHER_VHOST),
                          collectives=("far",), psk=fleet.psk)
    fed_root = tmp_path / "fed"
    fed_root.mkdir()
    for side, url in (("clients", url_of(rabbit, "fedin")),
                      ("nodes", url_of(rabbit, "fedout", OTHER_VHOST))):
        (fed_root / f"{side}.cfg").write_text(
            f"identity = fed-{side}\ncollectives = far,main\nconnector = kombu\n"
            f"plugin.kombu.url = {url}\nsecurityprovider = psk\nplugin.psk = {fleet.psk}\n")
        (fed_root / f"{side}.cfg").chmod(0o600)  # it holds a secret
    (fed_root / "federation.yaml").write_text(yaml.safe_dump({
        "name": "fed-main-far", "collectives": ["far"], "clients": "clients.cfg",
        "nodes": "nodes.cfg", "reply_collectives": ["main"],
        "audit": str(fed_root / "audit.log")}))
    federation = subprocess.Popen(
        [str(Path(sys.executable).parent / "mco-federation"), "-c",
         str(fed_root / "federation.yaml"), "--pidfile", str(fed_root / "pid"),
         "--logfile", str(fed_root / "federation.log")])
    try:
        far.add_node("far1.example.org", facts={"country": "jp"},
                     settings={"plugin.kombu.url": url_of(rabbit, "far1", OTHER_VHOST)})
        deadline = time.monotonic() + 60
        while not (fed_root / "pid").exists():
            assert federation.poll() is None, (fed_root / "federation.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        replies = rpc_json(fleet, "rpcutil", "get_fact", "fact=country", "-T", "far")
        assert [(r["sender"], r["data"]["value"]) for r in replies] == [
            ("far1.example.org", "jp")]
        records = [json.loads(line) for line in
                   (fed_root / "audit.log").read_text().splitlines()]
        forwarded = [r for r in records if r["event"] == "forwarded"]
        assert forwarded and forwarded[-1]["action"] == "get_fact"
        assert forwarded[-1]["caller"].startswith("user=")
        assert "ACCESS_REFUSED" not in (fed_root / "federation.log").read_text()
    finally:
        federation.terminate()
        federation.wait(30)
        far.stop_all()
