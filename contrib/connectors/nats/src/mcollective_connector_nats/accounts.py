"""Least-privilege NATS users for a collective layout (:mod:`mcollective.accounts`):
``mco nats accounts LAYOUT`` prints the ``authorization`` block of ``nats-server``'s
configuration.

NATS checks every subject a user publishes or subscribes to against allow-lists, so
the subjects (:mod:`mcollective_connector_nats.subjects`) give each role exactly what it
needs, per collective ``C`` of the account (``M``: any collective of the layout, where
clients' reply subjects live):

* a **node**: subscribe ``C.broadcast.agent.*`` and ``C.node.<identity>`` of its own
  identities; publish replies ``M.reply.>`` (and ``C.broadcast.agent.registration`` if it
  registers). It cannot publish a request, read another node's direct requests, or read
  any reply;
* a **client**: publish ``C.broadcast.agent.*`` and ``C.node.>`` of its collectives;
  subscribe its own replies ``M.reply.<account>.>``. It cannot publish into a collective
  it was not given, read requests, read another account's replies, or forge a reply;
* a **federation** account (``mcollective-federation``): subscribe the requests of its
  ``relays`` collectives and publish replies for clients of ``answers`` (the clients'
  broker); publish requests into ``publishes`` and subscribe every reply of
  ``collects`` (the nodes' broker).

Clients' reply subjects carry the account name (``plugin.nats.account``, by default the
user of the URL): a client logging in with an NKEY must set it to its layout account,
or its reply subscription is refused. Accounts log in with a password (from the layout,
else the environment variable ``MCO_PASSWORD_<ACCOUNT>`` that ``nats-server`` reads at
start) or with the public NKEY the layout gives them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mcollective.accounts import (
    Account,
    ClientAccount,
    FederationAccount,
    Layout,
    NodeAccount,
    password_variable,
)


@dataclass(frozen=True)
class NatsUser:
    """One entry of ``authorization.users``."""

    account: Account
    role: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def entry(self) -> str:
        """The entry in nats-server's configuration syntax (JSON values are valid)."""
        if self.account.nkey:
            login = f"nkey: {json.dumps(self.account.nkey)}"
        else:
            login = (f"user: {json.dumps(self.account.account)}, "
                     f"password: {password_of(self.account)}")
        return (f"{{ {login},\n      permissions: {{\n"
                f"        publish: {{ allow: {json.dumps(list(self.publish))} }},\n"
                f"        subscribe: {{ allow: {json.dumps(list(self.subscribe))} }} }} }}")


def password_of(account: Account) -> str:
    """The password as configuration text: the layout's, or a reference to the
    environment variable nats-server resolves when it reads the file."""
    if account.password is not None:
        return json.dumps(account.password)
    return "$" + password_variable(account.account)


def _replies(collectives: tuple[str, ...]) -> list[str]:
    return [f"{c}.reply.>" for c in collectives]


def _requests(collectives: tuple[str, ...]) -> list[str]:
    return [s for c in collectives for s in (f"{c}.broadcast.agent.*", f"{c}.node.>")]


def _node(node: NodeAccount, layout: Layout) -> NatsUser:
    subscribe = [f"{c}.broadcast.agent.*" for c in node.collectives]
    subscribe += [f"{c}.node.{i}" for c in node.collectives for i in node.identities]
    publish = _replies(layout.collectives)
    if node.registration:
        publish += [f"{c}.broadcast.agent.registration" for c in node.collectives]
    return NatsUser(node, "node", tuple(publish), tuple(subscribe))


def _client(client: ClientAccount, layout: Layout) -> NatsUser:
    return NatsUser(client, "client", tuple(_requests(client.collectives)),
                    tuple(f"{c}.reply.{client.account}.>" for c in layout.collectives))


def _federation(fed: FederationAccount) -> NatsUser:
    subscribe = _requests(fed.relays) + _replies(fed.collects)
    publish = _replies(fed.answers) + _requests(fed.publishes)
    return NatsUser(fed, "federation", tuple(publish), tuple(subscribe))


def nats_users(layout: Layout) -> list[NatsUser]:
    return ([_node(n, layout) for n in layout.nodes]
            + [_client(c, layout) for c in layout.clients]
            + [_federation(f) for f in layout.federations])


def _describe(user: NatsUser) -> str:
    account = user.account
    if isinstance(account, NodeAccount):
        return (f"node {account.account}: {', '.join(account.identities)} in "
                f"{', '.join(account.collectives)}"
                + (" (registers)" if account.registration else ""))
    if isinstance(account, ClientAccount):
        return f"client {account.account}: {', '.join(account.collectives)}"
    assert isinstance(account, FederationAccount)
    parts = [f"{k} {', '.join(getattr(account, k))}"
             for k in ("relays", "answers", "publishes", "collects") if getattr(account, k)]
    return f"federation {account.account}: {'; '.join(parts)}"


def authorization_block(layout: Layout) -> str:
    """The ``authorization { users = [...] }`` block for ``layout``, with a comment per
    account and the environment variables it reads."""
    users = nats_users(layout)
    variables = [password_variable(u.account.account) for u in users
                 if u.account.password is None and not u.account.nkey]
    lines = [f"# nats-server authorization for the collective layout {layout.source}",
             "# (mco nats accounts): each account may publish and subscribe only to what",
             "# its role needs; see mcollective_connector_nats.accounts."]
    if variables:
        lines.append("# Passwords not in the layout are read from the environment of "
                     "nats-server: " + ", ".join(variables))
    lines.append("authorization {\n  users = [")
    for user in users:
        lines.append(f"    # {_describe(user)}")
        lines.append(f"    {user.entry()}")
    lines.append("  ]\n}")
    return "\n".join(lines) + "\n"
