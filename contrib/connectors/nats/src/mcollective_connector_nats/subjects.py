"""NATS subjects per collective ``C`` (Choria's layout):

* broadcast: ``C.broadcast.agent.<agent>``; a process subscribes once per (collective,
  agent) that any identity it serves hosts, and hands each message to those identities
  (an emulator with a thousand identities receives a broadcast once, not a thousand
  times);
* direct: ``C.node.<identity>``, one subscription per identity and collective;
* replies: ``<main collective>.reply.<account>.<identity>.<pid>.<random>``, one per
  client process. ``<account>`` is the NATS user the client logs in as (``anonymous``
  without one), so that broker permissions can give each account its own reply
  subjects (``mco nats accounts``).

Core NATS keeps nothing: a node that is not subscribed when a request is published
misses it (as on Redis PUB/SUB), so dead nodes accumulate nothing; every request's own
ttl is checked by the daemon.
"""

from __future__ import annotations

import os
import re
import secrets

#: What a subject token may not contain (whitespace and the wildcards).
_BAD_TOKEN = re.compile(r"[\s*>]")


def check_token(value: str, what: str) -> str:
    """``value`` if it can stand in a subject (dots allowed, no empty token)."""
    if not value or _BAD_TOKEN.search(value) or any(not t for t in value.split(".")):
        raise ValueError(f"{what} {value!r} cannot be part of a NATS subject "
                         "(no spaces, '*', '>', or empty dot-separated parts)")
    return value


def broadcast(collective: str, agent: str) -> str:
    return f"{collective}.broadcast.agent.{agent}"


def direct(collective: str, identity: str) -> str:
    return f"{collective}.node.{identity}"


def reply_prefix(collective: str, account: str) -> str:
    """Every reply subject of ``account``'s clients in ``collective`` starts with this."""
    return f"{collective}.reply.{account}."


def reply(collective: str, account: str, identity: str) -> str:
    """A fresh, unguessable reply subject for this process."""
    return (f"{reply_prefix(collective, account)}{identity}.{os.getpid()}."
            f"{secrets.token_hex(8)}")
