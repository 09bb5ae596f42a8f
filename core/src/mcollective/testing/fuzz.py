"""Fuzzing real daemons with hostile messages on a real broker (issue 11).

:func:`fuzz` starts one real ``mcollectived`` on a broker and publishes ``messages``
hostile messages on its broadcast path, raw (bypassing every connector): transport
garbage (:data:`~mcollective.testing.hostile.GARBAGE`), random bytes, signed requests
truncated or with a flipped byte, requests signed with the wrong key, requests that
expired long ago, requests breaking a field bound, requests for another collective or
node, messages just over ``max_message_size``. Every ``check_every`` messages an honest
``rpcutil ping`` must be answered within ``answer_bound`` seconds (zero deafness; the
ping also paces the sender, as the daemon consumes in order). At the end:

* the daemon is alive (zero crashes) and was never deaf;
* every message it received is counted in exactly one ``daemon_stats`` category, and
  the count of received messages is exactly what was sent;
* its RSS stayed bounded (the growth is reported; the caller judges it).

``bench/fuzz_hostile.py`` runs it with 100,000 messages per broker; the test suite runs
a few thousand (``tests/test_hostile_e2e.py``).
"""

from __future__ import annotations

import base64
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcollective.testing.hostile import GARBAGE, HOSTILE_FIELDS, counting_problems

if TYPE_CHECKING:
    from mcollective.client import ClientSession
    from mcollective.message import Request

IDENTITY = "fuzz1"
MAX_MESSAGE_SIZE = 65536


@dataclass
class FuzzResult:
    broker: str
    sent: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    pings: int = 0
    deaf: int = 0
    worst_ping: float = 0.0
    rss_start: int = 0
    rss_max: int = 0
    rss_end: int = 0
    alive: bool = True
    stats: dict[str, Any] = field(default_factory=dict)
    received: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.alive and not self.deaf and not self.problems

    def summary(self) -> str:
        s = self.stats
        cats = ", ".join(f"{k} {s.get(k, 0)}" for k in (
            "malformed", "oversized", "unvalidated", "outofbounds", "ttlexpired",
            "filtered", "passed"))
        mib = 1024 * 1024
        return (f"{self.broker}: {self.sent} hostile messages in {self.seconds:.1f}s "
                f"({self.sent / max(self.seconds, 1e-9):.0f}/s); received {self.received} "
                f"({cats}); {self.pings} pings, {self.deaf} unanswered, worst "
                f"{self.worst_ping * 1000:.0f} ms; RSS {self.rss_start / mib:.1f} → max "
                f"{self.rss_max / mib:.1f} → {self.rss_end / mib:.1f} MiB; "
                f"{'alive' if self.alive else 'DEAD'}; "
                f"{'; '.join(self.problems) if self.problems else 'every message counted once'}")


class _Raw:
    """Publishes raw bodies onto a node's broadcast path for ``rpcutil``, bypassing
    the connector: as AMQP bodies, or (Redis) as PUB/SUB messages, enveloped like
    kombu's unless the payload is meant as transport garbage."""

    def __init__(self, broker: str, url: str, collective: str) -> None:
        self.broker, self.url, self.collective = broker, url, collective
        if broker == "amqp":
            import kombu

            self.conn = kombu.Connection(url, connect_timeout=10)
            self.channel = self.conn.default_channel
            self.exchange = f"{collective}.broadcast"
        else:
            import redis

            self.client = redis.Redis.from_url(url)
            self.pipe = self.client.pipeline(transaction=False)
            self.topic = f"/0.{collective}.agent.rpcutil"
            self.pending = 0

    def send(self, body: bytes, *, garbage: bool) -> None:
        if self.broker == "amqp":
            self.channel.basic_publish(self.channel.prepare_message(body),
                                       exchange=self.exchange, routing_key="agent.rpcutil")
            return
        if not garbage:
            body = json.dumps({
                "body": base64.b64encode(body).decode(), "content-encoding": "binary",
                "content-type": "application/octet-stream", "headers": {},
                "properties": {"body_encoding": "base64", "delivery_tag": uuid.uuid4().hex,
                               "delivery_info": {"exchange": self.topic[3:],
                                                 "routing_key": ""},
                               "delivery_mode": 1, "priority": 0}}).encode()
        self.pipe.publish(self.topic, body)
        self.pending += 1
        if self.pending >= 200:
            self.flush()

    def flush(self) -> None:
        if self.broker == "redis" and self.pending:
            self.pipe.execute()
            self.pending = 0

    def close(self) -> None:
        self.flush()
        if self.broker == "amqp":
            self.conn.release()
        else:
            self.client.close()


def _signed(session: ClientSession, request: Request) -> bytes:
    from mcollective.security import encode_request

    return encode_request(request, session.security)


def _request(session: ClientSession, collective: str, **fields: Any) -> Request:
    from mcollective.message import Request, empty_filter

    request = Request(agent="rpcutil", collective=collective, sender="fuzzer",
                      caller=session.caller, message={"action": "ping", "data": {}},
                      filter=empty_filter(), reply_to=session.reply_to)
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def _hostile(rng: random.Random, session: ClientSession, other: ClientSession,
             collective: str) -> tuple[str, bytes, bool]:
    """One hostile message: (kind, body, is transport garbage)."""
    roll = rng.randrange(10)
    if roll == 0:
        name, payload = rng.choice(GARBAGE)
        return f"garbage/{name}", payload, True
    if roll == 1:
        return "random bytes", rng.randbytes(rng.randrange(0, 2048)), False
    if roll == 2:
        body = _signed(session, _request(session, collective))
        return "truncated", body[:rng.randrange(0, len(body))], False
    if roll == 3:
        flipped = bytearray(_signed(session, _request(session, collective)))
        at = rng.randrange(len(flipped))
        flipped[at] = (flipped[at] + rng.randrange(1, 256)) % 256
        return "byte flipped", bytes(flipped), False
    if roll == 4:
        return "wrong key", _signed(other, _request(other, collective)), False
    if roll == 5:
        return "expired", _signed(session, _request(
            session, collective, time=round(time.time() - 7200, 3), ttl=60)), False
    if roll == 6:
        case = rng.choice([c for c in HOSTILE_FIELDS if c.field != "collective"])
        return f"bound/{case.field}", _signed(session, _request(
            session, collective, **case.overrides)), False
    if roll == 7:
        flt = {"identity": ["nobody-here"], "fact": [], "agent": [], "cf_class": [],
               "compound": []}
        return "filtered", _signed(session, _request(session, collective, filter=flt)), False
    if roll == 8:
        return "other collective", _signed(session, _request(
            session, "elsewhere")), False
    return "oversized", b"{" * (MAX_MESSAGE_SIZE + 1), False


def _ping(session: ClientSession, collective: str, timeout: float) -> float | None:
    """An honest broadcast ``rpcutil ping``: seconds until the reply, or None."""
    request = session.new_request("rpcutil", "ping", collective=collective)
    replies = session.expect(request.id)
    started = time.monotonic()
    try:
        session.publish(request)
        while time.monotonic() - started < timeout:
            if replies.take(timeout - (time.monotonic() - started)):
                return time.monotonic() - started
        return None
    finally:
        session.forget(request.id)


def _stats(session: ClientSession, collective: str) -> dict[str, Any]:
    request = session.new_request("rpcutil", "daemon_stats", collective=collective)
    replies = session.expect(request.id)
    try:
        session.publish(request)
        batch = replies.take(60)
        if not batch:
            raise RuntimeError("no daemon_stats reply")
        return dict(batch[0][0].data)
    finally:
        session.forget(request.id)


def fuzz(broker: str, url: str, messages: int, *, check_every: int = 1000,
         answer_bound: float = 10.0, seed: int = 11, root: Path | None = None,
         log: Any = None) -> FuzzResult:
    """See the module docstring. ``broker`` is ``amqp`` or ``redis``."""
    import psutil

    from mcollective.client import ClientSession
    from mcollective.config import config_from_text, load_config
    from mcollective.testing.collective import LocalCollective

    rng = random.Random(seed)
    result = FuzzResult(broker)
    name = f"fz{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        settings = {"max_message_size": MAX_MESSAGE_SIZE, "loglevel": "error",
                    "plugin.kombu.max_backoff": 1}
        with LocalCollective(Path(tmp), connector_url=url, collectives=(name,),
                             extra_config=settings) as collective:
            node = collective.add_node(IDENTITY, settings={"loglevel": "error"})
            session = ClientSession(load_config(collective.client_config, role="client"))
            other_cfg = collective.render({**collective.base_settings("intruder"),
                                           "plugin.psk": "not-the-key"})
            other = ClientSession(config_from_text(other_cfg, role="client"))
            raw = _Raw(broker, url, name)
            proc = psutil.Process(node.pid)
            try:
                session.connect()
                first = _ping(session, name, 30)
                if first is None:
                    raise RuntimeError("the daemon does not answer before fuzzing")
                before = _stats(session, name)
                result.rss_start = result.rss_max = proc.memory_info().rss
                started = time.monotonic()
                for n in range(1, messages + 1):
                    kind, body, garbage = _hostile(rng, session, other, name)
                    raw.send(body, garbage=garbage)
                    result.kinds[kind.split("/")[0]] += 1
                    result.sent += 1
                    if n % check_every == 0 or n == messages:
                        raw.flush()
                        took = _ping(session, name, answer_bound)
                        result.pings += 1
                        if took is None:
                            result.deaf += 1
                        else:
                            result.worst_ping = max(result.worst_ping, took)
                        result.rss_max = max(result.rss_max, proc.memory_info().rss)
                        if log is not None and n % (check_every * 10) == 0:
                            log(f"  {broker}: {n} sent, worst ping "
                                f"{result.worst_ping * 1000:.0f} ms")
                result.seconds = time.monotonic() - started
                after = _stats(session, name)
                result.rss_end = proc.memory_info().rss
                result.alive = node.alive()
                result.stats = after
                result.received = int(after["total"]) - int(before["total"])
                # Received: the hostile messages, the pings, the daemon_stats request.
                expected = result.sent + result.pings + 1
                if result.received != expected:
                    result.problems.append(f"received {result.received} messages, "
                                           f"sent {expected}")
                result.problems.extend(counting_problems(after))
                disconnects = after["connector"]["stats"].get("disconnects", 0)
                if disconnects:
                    result.problems.append(f"{disconnects} broker disconnects")
            finally:
                raw.close()
                session.close()
                other.close()
            result.alive = result.alive and node.alive()
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse

    from mcollective.testing.brokers import broker_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", default="amqp,redis")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--check-every", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    failed = False
    for broker in args.brokers.split(","):
        url = broker_url(broker)
        res = fuzz(broker, url, args.messages, check_every=args.check_every,
                   seed=args.seed, log=print)
        print(res.summary())
        print(f"  kinds sent: {dict(sorted(res.kinds.items()))}")
        failed = failed or not res.ok
    return 1 if failed else 0
