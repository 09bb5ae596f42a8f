"""Broker accounts of a collective layout: who may do what on the middleware.

MCollective's design makes the middleware the first line of control: each process
logs in with an account of its own, and the broker refuses what that account may not
do. A *layout* (YAML) lists the accounts by role; each connector distribution turns it
into its broker's terms (``mco broker rabbitmq``, ``mco broker redis``,
``mco nats accounts``)::

    vhost: /mco                   # RabbitMQ virtual host (default "/")
    collectives: [mcollective, uk]
    nodes:                        # daemons: consume their own queues, publish replies
      - account: web1
        password: s3cret          # optional: else the generated set-up asks for it
        nkey: UDXU4RCSJNZOIQHZ... # optional, NATS only: log in with this NKEY instead
        identities: [web1.example.net]
        collectives: [mcollective, uk]    # default: every collective
        registration: true        # may also publish to the registration agent
    clients:                      # mco users: publish requests, read their own replies
      - account: alice
        collectives: [mcollective]
    federations:                  # federation brokers' accounts on *this* broker
      - account: fed-ab
        relays: [uk]              # takes the requests clients publish into these here
        answers: [mcollective]    # and sends the replies back to clients of these
      - account: fed-ab-out
        publishes: [uk]           # publishes forwarded requests into these here
        collects: [mcollective]   # and reads the replies for clients of these

Account names are letters, digits, ``_`` and ``-``: they become part of queue names and
permission patterns, where a dot would let one account's pattern cover another's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol

from mcollective.config import COLLECTIVE_RE, IDENTITY_RE
from mcollective.errors import ConfigError

ACCOUNT_RE = r"^[A-Za-z0-9_\-]+$"
#: A NATS user's public NKEY: "U" and 55 base32 characters.
NKEY_RE = r"^U[A-Z2-7]{55}$"


@dataclass(frozen=True)
class Account:
    account: str
    password: str | None
    #: NATS only: the public NKEY (``U...``) the account logs in with, instead of a
    #: password.
    nkey: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class NodeAccount(Account):
    identities: tuple[str, ...]
    collectives: tuple[str, ...]
    registration: bool = False


@dataclass(frozen=True)
class ClientAccount(Account):
    collectives: tuple[str, ...]


@dataclass(frozen=True)
class FederationAccount(Account):
    """One side of a federation broker: ``relays``/``answers`` on the broker of the
    clients, ``publishes``/``collects`` on the broker of the nodes (one account may
    hold both, when one broker serves both sides)."""

    relays: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    publishes: tuple[str, ...] = ()
    collects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    collectives: tuple[str, ...]
    vhost: str = "/"
    nodes: tuple[NodeAccount, ...] = ()
    clients: tuple[ClientAccount, ...] = ()
    federations: tuple[FederationAccount, ...] = ()
    source: str = field(default="<layout>", compare=False)

    def accounts(self) -> list[Account]:
        return [*self.nodes, *self.clients, *self.federations]


def account_name(value: Any) -> str:
    """An account name, validated (layouts, and connectors' settings naming one)."""
    if not isinstance(value, str) or not re.fullmatch(ACCOUNT_RE, value):
        raise vol.Invalid("account names are letters, digits, '_' and '-'")
    return value


def password_variable(account: str) -> str:
    """The environment variable a generated broker set-up reads the password of
    ``account`` from, when the layout gives none: ``MCO_PASSWORD_<ACCOUNT>``."""
    return "MCO_PASSWORD_" + re.sub(r"\W", "_", account).upper()


def _nkey(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(NKEY_RE, value):
        raise vol.Invalid("not a NATS user's public NKEY ('U' and 55 base32 characters; "
                          "the seed, 'SU...', stays with the account)")
    return value


def _collectives(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    return vol.Schema([vol.Match(COLLECTIVE_RE.pattern, msg="not a collective name")])(value)


_ACCOUNT = {vol.Required("account"): account_name,
            vol.Optional("password"): vol.Any(None, vol.Coerce(str)),
            vol.Optional("nkey"): _nkey}

SCHEMA = vol.Schema({
    vol.Required("collectives"): vol.All(_collectives, vol.Length(min=1)),
    vol.Optional("vhost", default="/"): str,
    vol.Optional("nodes", default=list): [{
        **_ACCOUNT,
        vol.Required("identities"): vol.All(
            lambda v: [v] if isinstance(v, str) else v,
            [vol.Match(IDENTITY_RE.pattern, msg="not an identity")], vol.Length(min=1)),
        vol.Optional("collectives"): _collectives,
        vol.Optional("registration", default=False): bool,
    }],
    vol.Optional("clients", default=list): [{
        **_ACCOUNT, vol.Optional("collectives"): _collectives}],
    vol.Optional("federations", default=list): [{
        **_ACCOUNT, **{vol.Optional(k, default=list): _collectives
                       for k in ("relays", "answers", "publishes", "collects")}}],
})


def parse_layout(data: Any, source: str = "<layout>") -> Layout:
    """Validate a layout (as loaded from YAML); ConfigError names the file and key."""
    try:
        raw = SCHEMA(data if data is not None else {})
    except vol.MultipleInvalid as exc:
        error = exc.errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        raise ConfigError(error.msg, file=source, key=where.lstrip(".") or None) from None
    everything = tuple(raw["collectives"])

    def scope(entry: dict[str, Any], key: str, what: str) -> tuple[str, ...]:
        chosen = tuple(entry.get(key) or everything)
        unknown = [c for c in chosen if c not in everything]
        if unknown:
            raise ConfigError(f"{what} {entry['account']!r} names collectives not in the "
                              f"layout: {', '.join(unknown)}", file=source, key=key)
        return chosen

    layout = Layout(
        collectives=everything, vhost=raw["vhost"], source=source,
        nodes=tuple(NodeAccount(n["account"], n.get("password"), tuple(n["identities"]),
                                scope(n, "collectives", "node"), n["registration"],
                                nkey=n.get("nkey"))
                    for n in raw["nodes"]),
        clients=tuple(ClientAccount(c["account"], c.get("password"),
                                    scope(c, "collectives", "client"), nkey=c.get("nkey"))
                      for c in raw["clients"]),
        federations=tuple(FederationAccount(
            f["account"], f.get("password"), nkey=f.get("nkey"),
            **{k: tuple(f[k]) for k in ("relays", "answers", "publishes", "collects")})
            for f in raw["federations"]))
    seen: set[str] = set()
    for account in layout.accounts():
        if account.account in seen:
            raise ConfigError(f"account {account.account!r} appears twice", file=source)
        seen.add(account.account)
    return layout


def load_layout(path: str | Path) -> Layout:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the layout: {exc.strerror}", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                          line=mark.line + 1 if mark else None) from None
    return parse_layout(data, str(path))
