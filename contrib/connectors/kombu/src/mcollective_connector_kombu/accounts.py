"""Least-privilege broker accounts for a collective layout (:mod:`mcollective.accounts`).

**RabbitMQ.** Per account, ``configure``/``write``/``read`` regular expressions over
queue and exchange names, and *topic permissions* (routing-key patterns) on each topic
exchange it touches (the topology's exchanges are all topic exchanges on AMQP for this
reason: RabbitMQ checks routing keys on topic exchanges only). With ``R`` =
``mcollective_reply``:

* a **node**: configure its queues ``C.node.<identity>``; write those queues and ``R``
  (and ``C.broadcast``, with routing key ``agent.registration`` only, if it registers);
  read its queues, ``C.broadcast`` and ``C.directed``;
* a **client**: configure and read its reply queues ``M.reply.<account>.*`` (read
  ``R`` too, to bind them); write ``C.broadcast`` and ``C.directed`` of its
  collectives, and its reply queues.

Topic permissions: a node binds ``C.broadcast`` with ``agent.<name>`` keys and
``C.directed`` with its own identities only, and publishes to ``R`` with reply names
only; a client publishes ``agent.<name>`` keys and reads (binds) ``R`` with its own
reply names only. Nobody may configure (create or delete) an exchange: they are
created durable by the set-up, and the connector declares only missing ones. Nobody
may use the default exchange, which reaches every queue.

So a node cannot publish a request (no write on ``C.broadcast``/``C.directed``, or only
the registration key), cannot consume another node's queue, cannot read replies; a
client cannot publish into a collective it was not given, cannot read another
client's reply queue nor bind its own to another's reply names.

**Redis** (7 or later: ACL selectors and read/write key permissions). A node may
subscribe to its collectives' broadcast channels but not publish to them, pop its own
lists only, and push only to reply lists; a client may publish broadcasts, push to
node lists and pop its own reply lists. What Redis cannot separate is documented in
``docs/middleware.md``: the owner and liveness bookkeeping keys are shared, so any
account can unregister another process's lists (a denial of service, not a way to
read or forge messages; messages are signed), and only clients sweep dead processes'
lists.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from mcollective.accounts import (
    Account,
    ClientAccount,
    FederationAccount,
    Layout,
    NodeAccount,
    password_variable,
)
from mcollective_connector_kombu import topology

#: Agent names as routing keys: ``agent.<name>``.
AGENT_KEYS = r"^agent\.[A-Za-z0-9_]+$"
NOTHING = "^$"
REPLY = topology.REPLY_EXCHANGE.name


def _alt(names: list[str]) -> str:
    """A regular expression matching exactly these names."""
    unique = sorted(set(names))
    if not unique:
        return NOTHING
    return "^(" + "|".join(re.escape(n) for n in unique) + ")$"


def _cols(collectives: tuple[str, ...]) -> str:
    return "(" + "|".join(re.escape(c) for c in collectives) + ")"


@dataclass
class RabbitAccount:
    account: str
    password: str | None
    configure: str
    write: str
    read: str
    #: exchange -> (write pattern, read pattern)
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class RabbitSetup:
    vhost: str
    accounts: list[RabbitAccount]
    exchanges: list[str]
    source: str = ""


def _node(node: NodeAccount) -> RabbitAccount:
    queues = [topology.node_queue(c, i) for c in node.collectives for i in node.identities]
    broadcast = [topology.broadcast_exchange(c).name for c in node.collectives]
    directed = [topology.directed_exchange(c).name for c in node.collectives]
    write = [*queues, REPLY] + (broadcast if node.registration else [])
    topics = {b: ("^agent\\.registration$" if node.registration else NOTHING, AGENT_KEYS)
              for b in broadcast}
    topics.update({d: (NOTHING, _alt(list(node.identities))) for d in directed})
    topics[REPLY] = (r"^[A-Za-z0-9_\-]+\.reply\..+$", NOTHING)
    return RabbitAccount(node.account, node.password, _alt(queues), _alt(write),
                         _alt([*queues, *broadcast, *directed]), topics)


def _client(client: ClientAccount) -> RabbitAccount:
    mine = f"{_cols(client.collectives)}\\.reply\\.{re.escape(client.account)}\\..+"
    broadcast = [topology.broadcast_exchange(c).name for c in client.collectives]
    directed = [topology.directed_exchange(c).name for c in client.collectives]
    write = "^(" + "|".join([*map(re.escape, broadcast + directed), mine]) + ")$"
    topics = {b: (AGENT_KEYS, NOTHING) for b in broadcast}
    topics.update({d: ("^.+$", NOTHING) for d in directed})
    topics[REPLY] = (NOTHING, f"^{mine}$")
    return RabbitAccount(client.account, client.password, f"^{mine}$", write,
                         f"^({re.escape(REPLY)}|{mine})$", topics)


def _federation(fed: FederationAccount) -> RabbitAccount:
    queues = [topology.relay_queues(c, fed.account)[0] for c in fed.relays]
    queues += [topology.relay_queues(c, fed.account)[1] for c in fed.collects]
    read = [*queues] + [topology.broadcast_exchange(c).name for c in fed.relays]
    read += [topology.directed_exchange(c).name for c in fed.relays]
    write = [*queues]
    write += [topology.broadcast_exchange(c).name for c in fed.publishes]
    write += [topology.directed_exchange(c).name for c in fed.publishes]
    topics: dict[str, tuple[str, str]] = {}
    for c in fed.relays:
        topics[topology.broadcast_exchange(c).name] = (NOTHING, r"^agent\.\*$")
        topics[topology.directed_exchange(c).name] = (NOTHING, "^#$")
    for c in fed.publishes:
        topics[topology.broadcast_exchange(c).name] = (AGENT_KEYS, NOTHING)
        topics[topology.directed_exchange(c).name] = ("^.+$", NOTHING)
    reply_write = NOTHING
    reply_read = NOTHING
    if fed.answers:
        write.append(REPLY)
        reply_write = f"^{_cols(fed.answers)}\\.reply\\..+$"
    if fed.collects:
        read.append(REPLY)
        reply_read = f"^{_cols(fed.collects)}\\.reply\\.#$"
    if fed.answers or fed.collects:
        topics[REPLY] = (reply_write, reply_read)
    return RabbitAccount(fed.account, fed.password, _alt(queues), _alt(write), _alt(read),
                         topics)


def rabbitmq_setup(layout: Layout) -> RabbitSetup:
    accounts = ([_node(n) for n in layout.nodes] + [_client(c) for c in layout.clients]
                + [_federation(f) for f in layout.federations])
    exchanges = [REPLY]
    for c in layout.collectives:
        exchanges += [topology.broadcast_exchange(c).name, topology.directed_exchange(c).name]
    return RabbitSetup(layout.vhost, accounts, exchanges, layout.source)


def _password_word(account: Account | RabbitAccount) -> str:
    if account.password is not None:
        return shlex.quote(account.password)
    variable = password_variable(account.account)
    return f'"${{{variable}:?set {variable} to the password of {account.account}}}"'


def definitions(setup: RabbitSetup) -> dict[str, Any]:
    """The durable exchanges as RabbitMQ definitions (``import_definitions``)."""
    return {"exchanges": [{"name": name, "vhost": setup.vhost, "type": "topic",
                           "durable": True, "auto_delete": False, "internal": False,
                           "arguments": {}} for name in setup.exchanges]}


def rabbitmqctl_script(setup: RabbitSetup) -> str:
    """A POSIX shell script of ``rabbitmqctl`` commands that creates the vhost, the
    accounts, their permissions and topic permissions, and the durable exchanges.
    Accounts without a password in the layout take it from ``MCO_PASSWORD_<ACCOUNT>``."""
    q = shlex.quote
    v = q(setup.vhost)
    lines = ["#!/bin/sh",
             f"# Least-privilege RabbitMQ accounts for {setup.source or 'a collective layout'}",
             "# (generated by 'mco broker rabbitmq'; see docs/middleware.md).",
             "set -e",
             f"rabbitmqctl add_vhost {v} 2>/dev/null || true"]
    for a in setup.accounts:
        pw = _password_word(a)
        lines += [f"rabbitmqctl add_user {q(a.account)} {pw} 2>/dev/null || "
                  f"rabbitmqctl change_password {q(a.account)} {pw}",
                  f"rabbitmqctl clear_topic_permissions -p {v} {q(a.account)} "
                  "2>/dev/null || true",
                  f"rabbitmqctl set_permissions -p {v} {q(a.account)} {q(a.configure)} "
                  f"{q(a.write)} {q(a.read)}"]
        for exchange, (write, read) in sorted(a.topics.items()):
            lines.append(f"rabbitmqctl set_topic_permissions -p {v} {q(a.account)} "
                         f"{q(exchange)} {q(write)} {q(read)}")
    lines += ["# The exchanges, durable (rabbitmqctl cannot declare them: imported as "
              "definitions).",
              "rabbitmqctl import_definitions --format json <<'MCO_DEFINITIONS'",
              json.dumps(definitions(setup), indent=1), "MCO_DEFINITIONS", ""]
    return "\n".join(lines)


def apply_management(setup: RabbitSetup, url: str, *, timeout: float = 10.0) -> list[str]:
    """Apply the set-up through the management HTTP API at ``url``
    (``http://admin:password@host:15672``); returns what was done. Every account needs
    a password in the layout."""
    import base64
    import urllib.error
    import urllib.parse
    import urllib.request

    from mcollective.errors import MCollectiveError

    parts = urllib.parse.urlsplit(url)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}"
    auth = base64.b64encode(
        f"{urllib.parse.unquote(parts.username or 'guest')}:"
        f"{urllib.parse.unquote(parts.password or 'guest')}".encode()).decode()
    missing = [a.account for a in setup.accounts if a.password is None]
    if missing:
        raise MCollectiveError("the layout gives no password for " + ", ".join(missing)
                               + " (the management API needs one per account)")
    vhost = urllib.parse.quote(setup.vhost, safe="")
    done: list[str] = []

    def put(path: str, body: dict[str, Any], what: str) -> None:
        request = urllib.request.Request(
            f"{base}/api/{path}", data=json.dumps(body).encode(), method="PUT",
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                pass
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise MCollectiveError(f"{base}: {what} refused: HTTP {exc.code} {detail}") \
                from None
        except OSError as exc:
            raise MCollectiveError(f"cannot reach the management API at {base}: {exc}") \
                from None
        done.append(what)

    put(f"vhosts/{vhost}", {}, f"vhost {setup.vhost}")
    for a in setup.accounts:
        user = urllib.parse.quote(a.account, safe="")
        put(f"users/{user}", {"password": a.password, "tags": ""}, f"user {a.account}")
        put(f"permissions/{vhost}/{user}",
            {"configure": a.configure, "write": a.write, "read": a.read},
            f"permissions of {a.account}")
        for exchange, (write, read) in sorted(a.topics.items()):
            put(f"topic-permissions/{vhost}/{user}",
                {"exchange": exchange, "write": write, "read": read},
                f"topic permissions of {a.account} on {exchange}")
    for name in setup.exchanges:
        put(f"exchanges/{vhost}/{urllib.parse.quote(name, safe='')}",
            {"type": "topic", "durable": True, "auto_delete": False, "internal": False,
             "arguments": {}}, f"exchange {name}")
    return done
