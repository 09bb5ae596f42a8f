"""The SQS janitor: queues of processes that die without cleaning up (``kill -9``, power
loss) are removed, with their SNS subscriptions, by the live daemons; a live process's
queues never are (``transports.SqsLease`` and ``transports.SqsJanitor``).

Real connectors on the session's moto server (SQS and SNS); a crash is
:meth:`KombuConnector.abandon` (the consumer stops, nothing is deleted); API calls are
counted with botocore's own event hooks.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from kombu_test_support import Inbox, unique

from mcollective.config import config_from_text
from mcollective.plugins import make_plugin_manager
from mcollective.testing.contracts import wait_until
from mcollective_connector_kombu.connector import KombuConnector
from mcollective_connector_kombu.transports import SQS_OWNER_TAG, SqsJanitor

pytestmark = pytest.mark.broker("sqs")


class SqsEnv:
    """Connectors in one fresh collective on the moto server, and a look into it."""

    def __init__(self, url: str, root: Path) -> None:
        import boto3

        self.url = url
        self.root = root
        self.collective = unique("c")
        port = url.rsplit(":", 1)[1]
        kwargs: dict[str, Any] = {
            "region_name": "us-east-1", "endpoint_url": f"http://127.0.0.1:{port}",
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self.sqs = boto3.client("sqs", **kwargs)
        self.sns = boto3.client("sns", **kwargs)
        self.client_kwargs = kwargs
        self.pm = make_plugin_manager()
        self.connectors: list[KombuConnector] = []
        self._locks: list[IO[str]] = []

    # --- connectors -------------------------------------------------------------------

    # Live processes get a liveness timeout a loaded machine cannot miss (a renewal is
    # an HTTP call to moto's server, which competes for the CPU); the ones a test kills
    # or stalls get the shortest there is (3 s), so they are found dead quickly.
    def connector(self, identity: str, *, liveness: float = 10, janitor: float = 1,
                  slots: int = 8) -> KombuConnector:
        c = self.collective
        text = "".join(f"{k} = {v}\n" for k, v in {
            "identity": identity, "collectives": c, "main_collective": c,
            "statedir": self.root / "state" / identity,
            "plugin.kombu.url": self.url, "plugin.kombu.sqs_secure": "false",
            "plugin.kombu.sqs_wait_time": 0, "plugin.kombu.polling_interval": 0.02,
            "plugin.kombu.liveness_timeout": liveness,
            "plugin.kombu.janitor_interval": janitor,
            "plugin.kombu.sqs_reply_slots": slots}.items())
        connector = self.pm.create_connector(config_from_text(text))
        assert isinstance(connector, KombuConnector)
        connector.connect(timeout=10)
        self.connectors.append(connector)
        return connector

    def node(self, identity: str, agents: tuple[str, ...] = ("rpcutil",),
             handler: Any = None, **kwargs: Any) -> tuple[KombuConnector, Inbox]:
        connector = self.connector(identity, **kwargs)
        connector.subscribe_node(identity, [self.collective], agents)
        inbox = Inbox()
        connector.start(handler or inbox)
        return connector, inbox

    def take_reply_slots(self, identity: str, slots: int = 1) -> None:
        """Hold every reply slot of ``identity``'s host (more clients than slots), so
        that its next client gets a reply queue of its own process."""
        folder = self.root / "state" / identity / "sqs-reply-slots"
        folder.mkdir(parents=True, exist_ok=True)
        for slot in range(slots):
            fh = open(folder / f"{slot}.lock", "a")  # noqa: SIM115
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._locks.append(fh)

    def client(self) -> Any:
        """A boto3 SQS client of our own (whose calls a test may count)."""
        import boto3

        return boto3.client("sqs", **self.client_kwargs)

    # --- the middleware -----------------------------------------------------------------

    def queues(self) -> set[str]:
        urls = self.sqs.list_queues(QueueNamePrefix=f"{self.collective}-").get("QueueUrls")
        return {u.rsplit("/", 1)[1] for u in urls or []}

    def markers(self) -> set[str]:
        return {q for q in self.queues() if "-mco-alive-" in q}

    def queue_url(self, name: str) -> str:
        return str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])

    def owner(self, name: str) -> str | None:
        tags = self.sqs.list_queue_tags(QueueUrl=self.queue_url(name)).get("Tags") or {}
        return tags.get(SQS_OWNER_TAG)

    def arn(self, name: str) -> str:
        return str(self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url(name), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def subscriptions(self, endpoints: set[str]) -> list[str]:
        """Subscriptions of ``endpoints`` (queue ARNs) to this collective's topics."""
        found = []
        for topic in self.sns.list_topics().get("Topics", []):
            arn = topic["TopicArn"]
            if not arn.rsplit(":", 1)[1].startswith(f"{self.collective}-agent-"):
                continue
            for sub in self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
                if sub["Endpoint"] in endpoints:
                    found.append(sub["SubscriptionArn"])
        return found

    def counts(self, name: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url(name),
            AttributeNames=["ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (int(attrs["ApproximateNumberOfMessages"]),
                int(attrs["ApproximateNumberOfMessagesNotVisible"]))

    def close(self) -> None:
        for connector in self.connectors:
            connector.close()
        for fh in self._locks:
            fh.close()
        for name in self.queues():
            self.sqs.delete_queue(QueueUrl=self.queue_url(name))
        for topic in self.sns.list_topics().get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[1].startswith(f"{self.collective}-"):
                self.sns.delete_topic(TopicArn=topic["TopicArn"])


@pytest.fixture
def env(sqs_url: str, tmp_path: Path) -> Iterator[SqsEnv]:
    e = SqsEnv(sqs_url, tmp_path)
    yield e
    e.close()


def count_calls(client: Any) -> Counter[str]:
    """Count the API calls ``client`` makes from now on, by operation name."""
    calls: Counter[str] = Counter()

    def before_call(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call", before_call)
    return calls


def node_queue(env: SqsEnv, identity: str) -> str:
    return f"{env.collective}-node-{identity}"


# --- crashed processes ---------------------------------------------------------------------


def test_abandoned_connector_is_swept_by_a_live_janitor(env: SqsEnv) -> None:
    """A crashed daemon's node queue, its own reply queue and its marker, and the SNS
    subscriptions of its node queue, are removed by a live daemon's janitor."""
    live, live_inbox = env.node("live")
    live_queues = env.queues()
    env.take_reply_slots("dead")
    dead, _ = env.node("dead", agents=("rpcutil", "echo"), slots=1, liveness=3)
    reply_to = dead.subscribe_replies()  # a queue of its own: every slot is taken
    dead_queues = env.queues() - live_queues
    reply_queue = reply_to.replace(".", "-")
    assert node_queue(env, "dead") in dead_queues and reply_queue in dead_queues
    assert len(env.markers() & dead_queues) == 1
    marker = (env.markers() & dead_queues).pop()
    assert {env.owner(q) for q in dead_queues} == {marker}
    endpoints = {env.arn(q) for q in dead_queues}
    assert len(env.subscriptions(endpoints)) == 2  # rpcutil and echo

    dead.abandon()
    started = time.monotonic()
    sender = env.connector("sender")
    gone = wait_until(lambda: not env.queues() & dead_queues, timeout=40, step=0.25)
    took = time.monotonic() - started
    assert gone, f"still there after {took:.1f}s: {env.queues() & dead_queues}"
    print(f"the abandoned connector's {len(dead_queues)} queues were gone after {took:.1f}s")
    assert took < 25, "more than a few janitor intervals"
    assert env.subscriptions(endpoints) == []
    stats = live._sqs_janitor.stats
    assert stats["swept_queues"] == 2 and stats["swept_markers"] == 1
    assert stats["unsubscribed"] == 2

    # The live node lost nothing, and a broadcast now reaches it alone, without error.
    assert live_queues <= env.queues()
    sender.publish_request(b"after", collective=env.collective, agent="rpcutil", ttl=60)
    sender.publish_request(b"direct", collective=env.collective, agent="rpcutil", ttl=60,
                           targets=["dead", "live"])
    assert live_inbox.wait_for(lambda items: {b for b, _ in items} >= {b"after", b"direct"})
    assert not env.queues() & dead_queues, "publishing re-created a dead queue"


def test_restarted_node_keeps_its_queue_while_its_predecessor_is_swept(env: SqsEnv) -> None:
    """A node killed and started again takes its queue over (same name): the janitor
    removes the dead process's marker, never the queue the new process now owns."""
    janitor, _ = env.node("janitor", janitor=0.2)
    old, _ = env.node("n1", agents=("rpcutil", "echo"), liveness=3)
    queue = node_queue(env, "n1")
    old_marker = env.owner(queue)
    old.abandon()
    _, inbox = env.node("n1", agents=("rpcutil", "echo"))
    new_marker = env.owner(queue)
    assert new_marker not in (None, old_marker)

    assert wait_until(lambda: old_marker not in env.queues(), timeout=30, step=0.25)
    time.sleep(2 * janitor._sqs_janitor.confirm)  # more sweeps, all finding it alive
    assert queue in env.queues() and env.owner(queue) == new_marker
    assert len(env.subscriptions({env.arn(queue)})) == 2
    sender = env.connector("sender")
    sender.publish_request(b"b", collective=env.collective, agent="echo", ttl=60)
    sender.publish_request(b"d", collective=env.collective, agent="echo", ttl=60,
                           targets=["n1"])
    assert inbox.wait_for(lambda items: {b for b, _ in items} >= {b"b", b"d"})
    assert janitor._sqs_janitor.stats["swept_queues"] == 0


def test_a_lease_message_lost_to_retention_still_reveals_a_dead_owner(env: SqsEnv) -> None:
    """SQS drops a message after 14 days: a dead owner's marker may end up empty, which
    is also how a live owner's looks to a peek. The message counts tell them apart."""
    env.take_reply_slots("live")
    live = env.connector("live", slots=1)  # a client: a lease of its own, and no janitor
    live_reply = live.subscribe_replies().replace(".", "-")
    live.start(Inbox())
    dead, _ = env.node("dead", janitor=0, liveness=3)
    dead_queues = {node_queue(env, "dead"), env.owner(node_queue(env, "dead"))}
    marker = env.owner(node_queue(env, "dead"))
    assert marker is not None
    dead.abandon()
    url = env.queue_url(marker)
    got: list[dict[str, Any]] = []

    def lapsed() -> bool:  # the lease message is visible again: take it away
        got.extend(env.sqs.receive_message(QueueUrl=url, VisibilityTimeout=30
                                           ).get("Messages") or [])
        return bool(got)

    assert wait_until(lapsed, timeout=10)
    env.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert env.counts(marker) == (0, 0)

    janitor = SqsJanitor(interval=0.1, timeout=3)
    janitor.absent_check = 0.0  # check the counts at every sweep
    janitor.absent_confirm = 2.0
    prefixes = [f"{env.collective}-"]
    sweeps = 0

    def swept() -> bool:
        nonlocal sweeps
        janitor.sweep(env.sqs, env.sns, prefixes, [f"{env.collective}-agent-"])
        sweeps += 1
        return not env.queues() & dead_queues

    assert wait_until(swept, timeout=20, step=0.3)
    assert sweeps >= 2  # seen absent twice, absent_confirm apart
    # The live client's marker looks just as empty to a peek, but its message is in
    # flight: checked at every sweep, never taken for absent.
    assert {live_reply, live._sqs_lease.marker} <= env.queues()
    assert env.owner(live_reply) == live._sqs_lease.marker
    assert live._sqs_lease.stats["lapses"] == 0


# --- live processes ------------------------------------------------------------------------


def test_live_connector_with_slow_renewals_is_never_swept(env: SqsEnv) -> None:
    """Renewals half as late again as their period (a consumer thread busy in a
    handler for half the liveness timeout at a time) never let a janitor, however
    eager, remove a queue.

    Liveness 9 s: renewals are due every 3 s, made at the consumer's next maintenance
    tick (once a second), here after each 4.5 s handler; one later than 0.9 * 9 s
    would count as lapsed."""
    janitor, _ = env.node("janitor", janitor=0.2)  # sweeps every 0.2-0.6 s
    handled: list[bytes] = []
    cond = threading.Condition()

    def slow(body: bytes, identity: str | None) -> None:
        time.sleep(4.5)
        with cond:
            handled.append(body)
            cond.notify_all()

    slow_node, _ = env.node("slow", handler=slow, liveness=9)
    lease = slow_node._sqs_lease
    ours = {node_queue(env, "slow"), lease.marker}
    gaps: list[float] = []
    done = threading.Event()

    def watch() -> None:  # the time between successive renewals
        last = lease.renewed
        while not done.wait(0.05):
            if lease.renewed != last:
                gaps.append(lease.renewed - last)
                last = lease.renewed

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    sender = env.connector("sender")
    for n in range(1, 5):
        sender.publish_request(b"%d" % n, collective=env.collective, agent="rpcutil",
                               ttl=60, targets=["slow"])
        with cond:
            assert cond.wait_for(lambda: len(handled) >= n, timeout=20)  # noqa: B023
        assert ours <= env.queues()
    done.set()
    watcher.join()
    print(f"renewal gaps: {', '.join(f'{g:.1f}' for g in gaps)} s")
    assert min(gaps[1:]) > 3.0, gaps  # renewals really were late (due every 3 s)
    stats = janitor._sqs_janitor.stats
    assert stats["sweeps"] >= 10, stats
    assert stats["swept_queues"] == stats["swept_markers"] == 0
    assert lease.stats["lapses"] == 0 and lease.marker in ours
    assert slow_node.stats["reconnects"] == 0


def test_a_stalled_process_that_lost_its_lease_declares_its_queues_again(
        env: SqsEnv) -> None:
    """A consumer stuck longer than the liveness timeout is indistinguishable from a
    dead one, and may be swept; once it runs again it notices, takes a new lease and
    declares its queues (and subscriptions) again, as on Redis."""
    env.node("janitor", janitor=0.2)
    stall = threading.Event()
    inbox = Inbox()

    def handler(body: bytes, identity: str | None) -> None:
        if body == b"stall":
            stall.wait(8)  # liveness 3
        inbox(body, identity)

    node, _ = env.node("n1", agents=("rpcutil", "echo"), handler=handler, liveness=3)
    old_marker = node._sqs_lease.marker
    sender = env.connector("sender")
    sender.publish_request(b"stall", collective=env.collective, agent="rpcutil", ttl=60,
                           targets=["n1"])
    assert wait_until(lambda: old_marker not in env.queues(), timeout=30, step=0.25), \
        "the stalled process's marker was not swept"
    stall.set()

    def served() -> bool:
        sender.publish_request(b"ping", collective=env.collective, agent="echo", ttl=60)
        return inbox.wait_for(lambda items: any(b == b"ping" for b, _ in items), timeout=1)

    assert wait_until(served, timeout=40, step=0.5), "the node never came back"
    assert node._sqs_lease.stats["lapses"] >= 1 and node.stats["reconnects"] >= 1
    queue = node_queue(env, "n1")
    assert env.owner(queue) == node._sqs_lease.marker != old_marker
    assert len(env.subscriptions({env.arn(queue)})) == 2


def test_lease_message_rotates_before_sqs_visibility_ceiling(env: SqsEnv) -> None:
    """SQS keeps a message in flight at most 12 hours: the lease takes a fresh message
    every ``rotate_after`` seconds, with no gap a janitor could see."""
    janitor, _ = env.node("janitor", janitor=0.2)
    node, _ = env.node("n1")
    lease = node._sqs_lease
    lease.rotate_after = 1.0
    time.sleep(6)
    assert lease.stats["rotations"] >= 2 and lease.stats["lapses"] == 0
    # One lease message, in flight (two for an instant while rotating).
    assert wait_until(lambda: env.counts(lease.marker) == (0, 1), timeout=5)
    assert janitor._sqs_janitor.stats["sweeps"] >= 5
    assert janitor._sqs_janitor.stats["swept_markers"] == 0
    assert {node_queue(env, "n1"), lease.marker} <= env.queues()


def test_new_lease_messages_of_a_live_owner_never_add_up_to_a_dead_one(
        env: SqsEnv) -> None:
    """A rotation leaves the owner's new lease message visible for an instant before
    the owner holds it. Two sweeps that each catch such an instant, confirm apart, saw
    two different messages: that is no proof of death (a dead owner's message stays,
    with the same id). Here the instants are made by hand, deterministically."""
    node, _ = env.node("n1")
    marker = node._sqs_lease.marker
    assert marker is not None
    url = env.queue_url(marker)
    janitor = SqsJanitor(interval=0.1, timeout=3)  # confirm: 1 s
    prefixes = [f"{env.collective}-"]

    def visible_for_a_sweep() -> None:
        env.sqs.send_message(QueueUrl=url, MessageBody="rotating")
        janitor.sweep(env.sqs, env.sns, prefixes)
        for message in env.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10
                                               ).get("Messages") or []:
            if message["Body"] == "rotating":  # the owner takes it in flight (here: away)
                env.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    visible_for_a_sweep()
    time.sleep(janitor.confirm + 0.1)
    visible_for_a_sweep()
    assert janitor.stats["swept_markers"] == janitor.stats["swept_queues"] == 0
    assert {marker, node_queue(env, "n1")} <= env.queues()
    # The same message still visible a confirm later is another matter: a dead owner.
    env.sqs.send_message(QueueUrl=url, MessageBody="left behind")
    janitor.sweep(env.sqs, env.sns, prefixes)
    time.sleep(janitor.confirm + 0.1)
    janitor.sweep(env.sqs, env.sns, prefixes)
    assert janitor.stats["swept_markers"] == 1 and marker not in env.queues()


def test_clean_close_leaves_no_marker_and_clients_need_none(env: SqsEnv) -> None:
    node, _ = env.node("n1")
    assert len(env.markers()) == 1
    client = env.connector("client")
    client.subscribe_replies()  # a host reply slot: long-lived, owned by nobody
    assert client._sqs_lease.marker is None and len(env.markers()) == 1
    node.close()
    client.close()
    assert env.markers() == set()
    assert env.queues() == {f"{env.collective}-reply-client-0"}


# --- what it costs -------------------------------------------------------------------------


def test_api_calls_per_declaration_renewal_and_sweep(env: SqsEnv) -> None:
    """An emulator-like process owning many queues: one call per renewal, no tagging
    call when it creates its queues, and a janitor whose steady sweep costs one
    ListQueues and one peek per other process, whatever the number of queues."""
    n = 30
    owner = env.connector("emu", liveness=30)
    calls = count_calls(owner._channel.sqs())
    sns_calls = count_calls(owner._channel.fanout.get_client())
    for i in range(n):
        owner.subscribe_node(f"emu-{i:04d}", [env.collective], ["rpcutil", "echo"])
    assert calls["CreateQueue"] == n + 1  # the node queues (tagged at creation), marker
    assert calls["TagQueue"] == 0
    assert calls["SendMessage"] == 1 and calls["ReceiveMessage"] == 1  # the lease
    # Stale subscriptions are looked for once per topic, not at every bind (kombu
    # would look up every earlier subscriber's queue each time: n*(n-1) GetQueueUrl).
    assert sns_calls["Subscribe"] == 2 * n
    assert sns_calls["ListSubscriptionsByTopic"] == 2 and calls["GetQueueUrl"] == 0
    calls.clear()
    assert owner._sqs_lease.renew(owner._channel.sqs())
    assert calls == Counter({"ChangeMessageVisibility": 1})

    sqs = env.client()
    janitor = SqsJanitor(interval=1, timeout=3)
    sweep_calls = count_calls(sqs)
    prefixes = [f"{env.collective}-"]
    janitor.sweep(sqs, env.sns, prefixes)
    assert sweep_calls == Counter({"ListQueues": 1, "ListQueueTags": n + 1,
                                   "ReceiveMessage": 1})
    sweep_calls.clear()
    janitor.sweep(sqs, env.sns, prefixes)
    assert sweep_calls == Counter({"ListQueues": 1, "ReceiveMessage": 1})
    assert len(env.queues()) == n + 1
    print(f"renewal: 1 call for {n} queues; steady sweep: {dict(sweep_calls)}")


def test_tag_reads_per_sweep_are_bounded(env: SqsEnv) -> None:
    owner = env.connector("emu")
    for i in range(12):
        owner.subscribe_node(f"emu-{i:04d}", [env.collective], ["rpcutil"])
    sqs = env.client()
    janitor = SqsJanitor(interval=1, timeout=3)
    janitor.tag_reads = 5
    calls = count_calls(sqs)
    for _ in range(3):
        janitor.sweep(sqs, env.sns, [f"{env.collective}-"])
    assert calls["ListQueueTags"] == 13  # 5 + 5 + 3: every queue read once
    calls.clear()
    janitor.sweep(sqs, env.sns, [f"{env.collective}-"])
    assert calls["ListQueueTags"] == 0



@pytest.mark.parametrize(("value", "problem"), [("1", "at least 3"),
                                                ("50000", "at most 43200")])
def test_liveness_timeout_bounds(tmp_path: Path, value: str, problem: str) -> None:
    """Renewed every third of it by a loop ticking once a second; an SQS lease message
    stays in flight 12 hours at most."""
    from mcollective.errors import ConfigError
    from mcollective_connector_kombu.options import load_options

    config = config_from_text(f"identity = n1\nstatedir = {tmp_path}\n"
                              f"plugin.kombu.liveness_timeout = {value}\n")
    with pytest.raises(ConfigError, match=problem):
        load_options("kombu", config)
    ok = config_from_text(f"identity = n1\nstatedir = {tmp_path}\n"
                          "plugin.kombu.liveness_timeout = 3\n")
    assert load_options("kombu", ok).liveness_timeout == 3
