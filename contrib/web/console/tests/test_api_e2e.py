"""The REST API of a real ``mco web`` against real daemons: discovery and RPC,
synchronous and streamed; history and re-run; and the defences (authentication,
CSRF, cookies, headers, body size and rate limits, per-user visibility)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from webconsole_helpers import (
    PASSWORDS,
    Console,
    audit_lines,
    sse_events,
    start_fleet,
)

from mcollective.testing import LocalCollective

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("web-api")
    collective = LocalCollective(root / "collective")
    try:
        start_fleet(collective)
        console = Console(collective, root / "console", settings={
            "login_rate": "5/minute", "max_body": 4096}).start()
        try:
            yield console
        finally:
            console.stop()
    finally:
        collective.stop_all()


@pytest.fixture(scope="module")
def alice(console: Console) -> Iterator[httpx.Client]:
    with console.api("alice") as client:
        yield client


def test_discovery_sync_and_streamed(alice: httpx.Client) -> None:
    found = alice.post("/api/v1/discover", json={"filter": "-F country=uk"}).json()
    assert sorted(found["nodes"]) == ["db1.example.net", "web1.example.net"]
    assert found["method"] == "mc" and found["seconds"] > 0
    job = alice.post("/api/v1/discover/jobs", json={"filter": "-W role=web apache"}).json()
    events = sse_events(alice, job["id"])
    names = [name for name, _ in events]
    assert names[0] == "discovering" and names[-2:] == ["done", "end"]
    streamed = [n["identity"] for name, batch in events if name == "nodes" for n in batch]
    assert sorted(streamed) == ["web1.example.net", "web2.example.net"]


def test_filter_errors_name_the_position(alice: httpx.Client) -> None:
    check = alice.post("/api/v1/filters/check", json={"filter": "-F country=uk -X y"})
    assert check.json()["valid"] is False and check.json()["position"] == 14
    bad = alice.post("/api/v1/discover", json={"filter": '-S "cpus >"'})
    assert bad.status_code == 422
    assert bad.json()["position"] is not None and "^" in bad.json()["message"]
    good = alice.post("/api/v1/filters/check", json={"filter": "-S 'cpus > 4'"}).json()
    assert good["valid"] and good["options"] == ["-S", "cpus > 4"]


def test_rpc_sync_validates_with_the_ddl_and_returns_every_reply(
        alice: httpx.Client) -> None:
    result = alice.post("/api/v1/rpc", json={
        "agent": "rpcutil", "action": "get_fact", "arguments": {"fact": "os.family"},
        "filter": "-C base"}).json()
    assert sorted(r["sender"] for r in result["results"]) == sorted(
        ["web1.example.net", "web2.example.net", "db1.example.net", "xss.example.net"])
    assert result["summaries"]["results"][0]["value"] == {"Debian": 3, "RedHat": 1}
    assert result["stats"]["okcount"] == 4 and result["request_id"]
    bad = alice.post("/api/v1/rpc", json={"agent": "package", "action": "status",
                                          "arguments": {"package": "bash;reboot"}})
    assert bad.status_code == 422 and bad.json()["input"] == "package"
    missing = alice.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "get_fact"})
    assert missing.status_code == 422 and missing.json()["input"] == "fact"
    typed = alice.post("/api/v1/rpc", json={"agent": "nope", "action": "x"})
    assert typed.status_code == 404


def test_streamed_rpc_with_limit_and_batches(alice: httpx.Client) -> None:
    job = alice.post("/api/v1/rpc/jobs", json={
        "agent": "rpcutil", "action": "ping", "limit": "3", "batch": "2",
        "batch_sleep": 0.1}).json()
    assert job["page"] == f"/runs/{job['id']}"
    events = sse_events(alice, job["id"])
    sending = next(data for name, data in events if name == "sending")
    assert sending["expected"] == 3
    results = [r for name, batch in events if name == "results" for r in batch]
    assert len(results) == 3 and all(r["statuscode"] == 0 for r in results)
    done = next(data for name, data in events if name == "done")
    assert done["stats"]["batches"] == 2 and done["noresponsefrom"] == []
    # Reconnecting with Last-Event-ID resumes after it.
    last = len(events) - 3
    with alice.stream("GET", f"/api/v1/jobs/{job['id']}/events",
                      headers={"Last-Event-ID": str(last)}) as response:
        text = response.read().decode()
    assert "event: done" in text and "event: discovering" not in text


def test_history_records_who_what_and_outcome_and_reruns(console: Console,
                                                         alice: httpx.Client) -> None:
    first = alice.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping",
                                            "filter": "-I web2.example.net"}).json()
    entry = alice.get(f"/api/v1/history/{first['id']}").json()
    assert (entry["user"], entry["caller"], entry["agent"], entry["action"]) == (
        "alice", "user=alice", "rpcutil", "ping")
    assert entry["filter"] == "-I web2.example.net" and entry["status"] == "finished"
    assert [r["sender"] for r in entry["replies"]] == ["web2.example.net"]
    assert entry["request_id"] == first["request_id"]
    again = alice.post(f"/api/v1/history/{first['id']}/rerun").json()
    events = sse_events(alice, again["id"])
    assert [r["sender"] for name, b in events if name == "results" for r in b] == [
        "web2.example.net"]
    rerun = alice.get(f"/api/v1/history/{again['id']}").json()
    assert rerun["rerun_of"] == first["id"]
    assert again["id"] in [r["id"] for r in alice.get(
        f"/api/v1/history/{first['id']}").json()["related"]]
    # The node audited both under alice's name, with the console's request ids.
    ids = {line["request_id"]: line["caller"]
           for line in audit_lines(console.collective, "web2.example.net")}
    assert ids[first["request_id"]] == "user=alice"
    assert ids[rerun["request_id"]] == "user=alice"


def test_users_see_their_own_history_admins_everyones(console: Console,
                                                      alice: httpx.Client) -> None:
    with console.api("bob") as bob:
        mine = bob.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping",
                                             "filter": "-I db1.example.net"}).json()
        assert {e["user"] for e in bob.get("/api/v1/history").json()} == {"bob"}
        alices = alice.get("/api/v1/history", params={"user": "alice"}).json()[0]
        assert bob.get(f"/api/v1/history/{alices['id']}").status_code == 404
        assert bob.post(f"/api/v1/history/{alices['id']}/rerun").status_code == 404
        assert alice.get(f"/api/v1/history/{mine['id']}").json()["user"] == "bob"
        # bob may not call the package agent: actionpolicy refuses, as bob.
        refused = bob.post("/api/v1/rpc", json={
            "agent": "package", "action": "status", "arguments": {"package": "bash"},
            "filter": "-I db1.example.net"}).json()
        assert refused["results"][0]["statuscode"] == 1
        assert "not authorized" in refused["results"][0]["statusmsg"]


def test_inventory_and_agents(alice: httpx.Client) -> None:
    node = alice.get("/api/v1/nodes/db1.example.net").json()
    assert node["inventory"]["facts"]["role"] == "db"
    assert node["inventory"]["classes"] == ["mysql", "base"]
    assert any(a["agent"] == "package" for a in node["agent_inventory"]["agents"])
    assert node["daemon_stats"]["passed"] > 0
    silent = alice.get("/api/v1/nodes/gone.example.net").json()
    assert silent["inventory"] is None and silent["silent"] == ["inventory"]
    assert alice.get("/api/v1/nodes/bad%20name").status_code == 422
    agents = {a["agent"]: a for a in alice.get("/api/v1/agents").json()}
    assert "status" in [a["action"] for a in agents["package"]["actions"]]
    ddl = alice.get("/api/v1/agents/package").json()
    assert ddl["metadata"]["name"] == "package"
    fleet = alice.post("/api/v1/fleet/jobs", json={"filter": "-F role=web"}).json()
    events = sse_events(alice, fleet["id"])
    rows = [r for name, b in events if name == "results" for r in b]
    assert sorted(r["sender"] for r in rows) == ["web1.example.net", "web2.example.net"]
    child = next(data for name, data in events if name == "agents")["history"]
    versions = alice.get(f"/api/v1/history/{child}").json()
    assert versions["parent"] == fleet["id"] and len(versions["replies"]) == 2


def test_saved_filters(alice: httpx.Client) -> None:
    assert alice.post("/api/v1/filters/saved", json={
        "name": "web", "filter": "-F role=web"}).status_code == 200
    assert alice.post("/api/v1/filters/saved", json={
        "name": "broken", "filter": "-S '('"}).status_code == 422
    assert [f["name"] for f in alice.get("/api/v1/filters/saved").json()] == ["web"]
    assert alice.delete("/api/v1/filters/saved/web").status_code == 204
    assert alice.delete("/api/v1/filters/saved/web").status_code == 404


def test_authentication_is_required(console: Console) -> None:
    anonymous = httpx.Client(base_url=console.url)
    assert anonymous.get("/api/v1/me").status_code == 401
    assert anonymous.post("/api/v1/rpc", json={"agent": "rpcutil",
                                                "action": "ping"}).status_code == 401
    page = anonymous.get("/history", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/history"
    bogus = httpx.Client(base_url=console.url, headers={"Authorization": "Bearer nope"})
    assert bogus.get("/api/v1/me").status_code == 401
    # The OpenAPI document is public; it describes, it does not act.
    doc = anonymous.get("/api/v1/openapi.json").json()
    assert "/api/v1/rpc/jobs" in doc["paths"]


def browser_session(console: Console, user: str = "alice") -> httpx.Client:
    """Sign in through the form as a browser does: cookies and the page's tokens."""
    client = httpx.Client(base_url=console.url, follow_redirects=False)
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    signed = client.post("/login", data={
        "username": user, "password": PASSWORDS[user], "csrf_token": token,
        "next": "/history"}, headers={"Origin": console.url})
    assert signed.status_code == 303 and signed.headers["location"] == "/history"
    return client


def test_cookie_sessions_need_csrf_tokens_and_their_own_origin(console: Console) -> None:
    browser = browser_session(console)
    cookie = next(c for c in browser.cookies.jar if c.name == "mco_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite").lower() == "strict"
    assert not cookie.secure  # plain HTTP on loopback; over TLS see test_tls
    page = browser.get("/")
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    body = {"filter": "-I web1.example.net"}
    assert browser.post("/api/v1/discover", json=body).status_code == 403
    assert browser.post("/api/v1/discover", json=body, headers={
        "X-CSRF-Token": "wrong"}).status_code == 403
    assert browser.post("/api/v1/discover", json=body, headers={
        "X-CSRF-Token": csrf, "Origin": "http://evil.example"}).status_code == 403
    ok = browser.post("/api/v1/discover", json=body, headers={"X-CSRF-Token": csrf,
                                                              "Origin": console.url})
    assert ok.status_code == 200 and ok.json()["nodes"] == ["web1.example.net"]
    # A browser session's cookie is not an API token, and the other way round.
    secret = cookie.value
    assert httpx.get(f"{console.url}/api/v1/me", headers={
        "Authorization": f"Bearer {secret}"}).status_code == 401
    # Signing out ends the session on the server.
    assert browser.post("/logout", data={"csrf_token": csrf},
                        headers={"Origin": console.url}).status_code == 303
    assert httpx.get(f"{console.url}/api/v1/me",
                     cookies={"mco_session": secret}).status_code == 401
    # The sign-in form itself is protected too.
    forged = httpx.post(f"{console.url}/login", data={
        "username": "alice", "password": PASSWORDS["alice"], "csrf_token": "x"},
        cookies={"mco_login_csrf": "y"})
    assert forged.status_code == 403


def test_security_headers(console: Console) -> None:
    response = httpx.get(f"{console.url}/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert httpx.get(f"{console.url}/login", headers={
        "Host": "attacker.example"}).status_code == 400  # DNS rebinding


def test_the_console_keeps_an_audit_trail_of_sign_ins(console: Console) -> None:
    browser = browser_session(console)
    page = browser.get("/history").text
    assert "login" in page and "alice" in page


def test_body_size_and_rate_limits(console: Console, alice: httpx.Client) -> None:
    big = alice.post("/api/v1/filters/check", content=b'{"filter": "' + b"x" * 5000 + b'"}',
                     headers={"Content-Type": "application/json"})
    assert big.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"filter": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    assert alice.post("/api/v1/filters/check", content=chunks(), headers={
        "Content-Type": "application/json"}).status_code == 413
    statuses = [httpx.post(f"{console.url}/api/v1/login", json={
        "username": "mallory", "password": f"guess{i}"}).status_code for i in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429
    limited = httpx.post(f"{console.url}/api/v1/login", json={
        "username": "alice", "password": PASSWORDS["alice"]})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert alice.get("/api/v1/me").status_code == 200  # signed-in users carry on
    events = alice.get("/history").text  # the console's own audit trail (admins)
    assert "login-failed" in events and "mallory" in events
