"""The daemon pipeline end to end in one process: real Daemon, real RPCClient, the core
loopback connector and a test HMAC provider (see inprocess.py)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from inprocess import HmacSecurity, Worker, client, collective

from mcollective.errors import DDLValidationError, MCollectiveError
from mcollective.message import Request, empty_filter
from mcollective.security import encode_request


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_call_every_node_and_merge_output_defaults() -> None:
    with collective("n1", "n2", "n3") as (daemons, session):
        c = client(session)
        results = c.call("echo", message="hi", times=2)
        assert sorted(r.sender for r in results) == ["n1", "n2", "n3"]
        assert all(r.data == {"message": "hihi", "node": "unset"} for r in results)
        assert c.stats.okcount == 3 and c.stats.noresponsefrom == []
        assert c.stats.exit_code() == 0
        assert all(d.stats["replies"] == 2 for d in daemons)  # discovery + echo


def test_status_codes() -> None:
    with collective("n1") as (_, session):
        c = client(session)
        assert c.call("crash")[0].statuscode == 5
        assert "ZeroDivisionError: boom" in c.call("crash")[0].statusmsg
        assert (c.call("refuse")[0].statuscode, c.call("refuse")[0].statusmsg) == (4, "not today")
        soft = c.call("soft_fail")[0]
        assert (soft.statuscode, soft.statusmsg, soft.data["after"]) == (1, "partly broken",
                                                                        "still ran")
        assert c.call("undefined")[0].statuscode == 2
        assert c.stats.exit_code() == 2


def test_server_validates_even_when_client_does_not() -> None:
    with collective("n1") as (_, session):
        def raw(action: str, data: dict) -> tuple[int, str]:  # type: ignore[type-arg]
            c = client(session)
            c._ddl = None  # a client without the DDL sends whatever it is given
            result = c.call(action, data)[0]
            return result.statuscode, result.statusmsg

        assert raw("echo", {})[0] == 3
        code, msg = raw("echo", {"message": "no spaces allowed"})
        assert code == 4 and "message" in msg
        code, msg = raw("echo", {"message": "ok", "bogus": 1})
        assert code == 4 and "bogus" in msg
        assert raw("nonexistent", {})[0] == 2


def test_client_validates_before_sending() -> None:
    with collective("n1") as (daemons, session):
        before = daemons[0].stats["total"]
        with pytest.raises(DDLValidationError, match="message"):
            client(session).call("echo", message="two words")
        assert daemons[0].stats["total"] == before


def test_timeout_replies_status_1_and_others_keep_being_served() -> None:
    with collective("n1") as (daemons, session):
        slow = client(session, timeout=5)
        results: list = []  # type: ignore[type-arg]
        thread = threading.Thread(target=lambda: results.extend(slow.call("sleep",
                                                                          seconds=30)))
        Worker.started.clear()
        thread.start()
        assert Worker.started.wait(5)
        fast = client(session)
        started = time.monotonic()
        assert fast.call("echo", message="quick")[0].data["message"] == "quick"
        assert time.monotonic() - started < 1.0  # not queued behind the sleeper
        thread.join(10)
        assert results and results[0].statuscode == 1
        assert "timed out after 1 seconds" in results[0].statusmsg
        assert daemons[0].stats["timeouts"] == 1


def test_bounded_worker_pool_frees_slot_on_timeout() -> None:
    with collective("n1", extra="worker_threads = 1\n") as (_, session):
        Worker.started.clear()
        slow = client(session, timeout=5)
        thread = threading.Thread(target=lambda: slow.call("sleep", seconds=30))
        thread.start()
        assert Worker.started.wait(5)
        # The only slot is taken; the next request waits for the watchdog to free it.
        result = client(session, timeout=5).call("echo", message="after")[0]
        assert result.statuscode == 0
        thread.join(10)


def test_fire_and_forget_gets_no_reply() -> None:
    with collective("n1") as (daemons, session):
        c = client(session)
        c.discover()
        replies_before = daemons[0].stats["replies"]
        request_id = c.call_async("echo", {"message": "hush"})
        assert len(request_id) == 32
        wait_for(lambda: daemons[0].stats["passed"] >= 2)
        time.sleep(0.1)
        assert daemons[0].stats["replies"] == replies_before


def test_filters_select_nodes() -> None:
    facts = {"n1": {"country": "uk", "cpus": 4}, "n2": {"country": "de", "cpus": 16},
             "n3": {"country": "uk", "cpus": 32}}
    with collective("n1", "n2", "n3", facts=facts) as (_, session):
        c = client(session)
        c.fact_filter("country=uk")
        assert sorted(c.discover()) == ["n1", "n3"]
        c.fact_filter("cpus>10")
        assert c.discover() == ["n3"]
        c.reset_filter()
        c.identity_filter("n2")
        assert c.literal_identities() == ["n2"]
        assert [r.sender for r in c.call("echo", message="x")] == ["n2"]


def test_unknown_collective_rejected_on_client() -> None:
    with collective("n1") as (_, session), pytest.raises(MCollectiveError, match="not one of"):
        client(session, collective="elsewhere").call("echo", message="x")


def publish_raw(session, body: bytes, identity: str = "n1") -> None:  # type: ignore[no-untyped-def]
    session.connect()
    session.connector.publish_request(body, collective="mcollective", agent="worker",
                                      ttl=60, targets=[identity])


def signed(session, security=None, **kw) -> bytes:  # type: ignore[no-untyped-def]
    request = session.new_request("worker", "echo", {"message": "evil"}, **kw)
    return encode_request(request, security or session.security)


def test_bad_messages_are_counted_never_executed_and_daemon_survives() -> None:
    with collective("n1") as (daemons, session):
        stats = daemons[0].stats
        base = stats.snapshot()
        publish_raw(session, signed(session, HmacSecurity(b"another key")))
        good = signed(session)
        outer = json.loads(good)
        inner = json.loads(outer["request"])
        inner["filter"] = {"identity": ["n1"]}
        outer["request"] = json.dumps(inner)
        publish_raw(session, json.dumps(outer).encode())  # tampered filter
        old = session.new_request("worker", "echo", {"message": "old"})
        old.time -= 3600
        publish_raw(session, encode_request(old, session.security))
        future = session.new_request("worker", "echo", {"message": "future"})
        future.time += 3600
        publish_raw(session, encode_request(future, session.security))
        publish_raw(session, b"\x00\xffrandom bytes")
        publish_raw(session, b'{"protocol": "mcollective:secure:request:1"}')
        wait_for(lambda: stats["total"] - base["total"] == 6)
        after = stats.snapshot()
        delta = {k: after[k] - base[k] for k in after}
        assert delta["unvalidated"] == 2
        assert delta["ttlexpired"] == 2
        assert delta["malformed"] == 2
        assert delta["passed"] == 0 and delta["replies"] == 0
        assert client(session).call("echo", message="still")[0].statuscode == 0


def test_graceful_stop_lets_running_actions_finish() -> None:
    with collective("n1") as (daemons, session):
        Worker.started.clear()
        results: list = []  # type: ignore[type-arg]
        c = client(session, timeout=5)
        thread = threading.Thread(target=lambda: results.extend(c.call("sleep", seconds=0.5)))
        thread.start()
        assert Worker.started.wait(5)
        daemons[0].stop(timeout=5)
        thread.join(5)
        assert results and results[0].statuscode == 0


def test_reload_changes_agents_and_collectives() -> None:
    with collective("n1") as (daemons, session):
        daemon = daemons[0]
        from inprocess import node_config

        broker = daemon.config.plugin_config("loopback", {"name": str})["name"]
        daemon.reload(node_config("n1", broker, "plugin.worker.activate_agent = 0\n"))
        assert "worker" not in daemon.agents
        c = client(session)
        assert c.discover() == []
        daemon.reload(node_config("n1", broker))
        assert client(session).call("echo", message="back")[0].statuscode == 0


def test_rpcutil_on_a_node() -> None:
    with collective("n1", facts={"n1": {"os": {"family": "Debian"}}}) as (_, session):
        rpcutil = client(session, "rpcutil")
        inv = rpcutil.call("inventory")[0].data
        assert {"discovery", "rpcutil", "worker"} <= set(inv["agents"])
        assert inv["agents"] == sorted(inv["agents"])
        assert inv["facts"] == {"os": {"family": "Debian"}}
        assert inv["collectives"] == ["mcollective"]
        assert rpcutil.call("get_fact", fact="os.family")[0].data["value"] == "Debian"
        assert rpcutil.call("get_facts", facts="os.family, nope")[0].data["values"] == {
            "os.family": "Debian", "nope": None}
        stats = rpcutil.call("daemon_stats")[0].data
        assert stats["passed"] >= 3 and stats["pid"] > 0 and "worker" in stats["agents"]
        assert rpcutil.call("get_config_item", item="ttl")[0].data["value"] == 60
        secret = rpcutil.call("get_config_item", item="plugin.psk")[0]
        assert secret.statuscode == 1 and "secret" in secret.statusmsg
        assert rpcutil.call("get_config_item", item="nope")[0].statuscode == 1
        agents = rpcutil.call("agent_inventory")[0].data["agents"]
        assert {"discovery", "rpcutil", "worker"} <= {a["agent"] for a in agents}
        assert rpcutil.call("collective_info")[0].data == {
            "main_collective": "mcollective", "collectives": ["mcollective"]}
        assert abs(rpcutil.call("ping")[0].data["pong"] - time.time()) < 5
        assert rpcutil.call("get_data", source="nothing")[0].statuscode == 1


def test_request_without_reply_to_is_served_but_not_answered() -> None:
    with collective("n1") as (daemons, session):
        request = Request(agent="worker", collective="mcollective", sender="c",
                          caller="user=x", message={"action": "echo",
                                                    "data": {"message": "x"}},
                          filter=empty_filter())
        publish_raw(session, encode_request(request, session.security))
        wait_for(lambda: daemons[0].stats["passed"] == 1)
        assert daemons[0].stats["replies"] == 0


def test_client_refuses_out_of_bounds_fields_before_sending() -> None:
    with collective("n1") as (daemons, session):
        with pytest.raises(MCollectiveError, match=r"'ttl' is 3601 seconds.*max_ttl"):
            session.new_request("worker", "echo", {"message": "x"}, ttl=3601)
        with pytest.raises(MCollectiveError, match="'reply_to' is 300 bytes"):
            session.new_request("worker", "echo", {"message": "x"}, reply_to="r" * 300)
        assert daemons[0].stats["total"] == 0


def test_node_drops_out_of_bounds_requests_without_answering() -> None:
    with collective("n1") as (daemons, session):
        session.connect()
        request = session.new_request("worker", "echo", {"message": "x"})
        request.reply_to = "r" * 300
        daemons[0].handle_message(encode_request(request, session.security))
        stats = daemons[0].stats
        assert stats["outofbounds"] == 1 and stats["passed"] == 0
        assert stats["replies"] == 0 and stats["errors"] == 0
