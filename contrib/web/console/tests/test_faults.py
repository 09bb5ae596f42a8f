"""The console when things go wrong: the middleware is down, a node floods replies, an
agent's DDL is invalid. It says what is wrong, in one line, and keeps serving."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webconsole_helpers import Console, sse_events, start_fleet

from mcollective.config import load_config
from mcollective.message import Reply
from mcollective.plugins import make_plugin_manager
from mcollective.security import decode_request, encode_reply
from mcollective.testing import LocalCollective
from mcollective.testing.brokers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROGUE = "rogue.example.net"
FLOOD = 3000


@pytest.fixture
def collective(tmp_path: Path) -> Iterator[LocalCollective]:
    collective = LocalCollective(tmp_path / "collective")
    try:
        yield collective
    finally:
        collective.stop_all()


def test_the_middleware_down(tmp_path: Path) -> None:
    """Nothing listens where the broker should be: pages and sign-in work, the status
    says the middleware is unreachable, requests fail with one clear line."""
    url = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    collective = LocalCollective(tmp_path / "collective", connector_url=url,
                                 extra_config={"connection_timeout": 2})
    console = Console(collective, tmp_path / "console").start()
    try:
        api = console.api("alice")
        status = api.get("/api/v1/status").json()
        assert status["connected"] is False
        found = api.post("/api/v1/discover", json={"filter": ""})
        assert found.status_code == 503
        assert found.json()["detail"].startswith("cannot reach the middleware")
        assert "127.0.0.1" in found.json()["detail"]
        job = api.post("/api/v1/rpc/jobs", json={"agent": "rpcutil", "action": "ping"})
        events = dict(sse_events(api, job.json()["id"]))
        assert events["error"]["message"].startswith("cannot reach the middleware")
        entry = api.get(f"/api/v1/history/{job.json()['id']}").json()
        assert entry["status"] == "error" and "cannot reach" in entry["error"]
        page = api.get("/")
        assert page.status_code == 200 and "Cannot reach the middleware" in page.text
        assert api.get("/api/v1/status").json()["last_error"]
        assert console.process is not None and console.process.poll() is None
    finally:
        console.stop()
    assert "Traceback" not in console.log()


class Rogue:
    """A 'node' with the collective's key that answers every request with thousands
    of replies in made-up names and the same reply again and again, before its own."""

    def __init__(self, collective: LocalCollective) -> None:
        config = load_config(collective.write_client_config("rogue.cfg"), role="client")
        plugins = make_plugin_manager()
        self.security = plugins.create_security(config, "server")
        self.connector = plugins.create_connector(config)
        self.connector.connect(timeout=10)
        self.connector.subscribe_node(ROGUE, list(config.collectives),
                                      ["discovery", "rpcutil"])
        self.floods = 0
        self.connector.start(self._on_message)

    def _on_message(self, body: bytes, _identity: str | None) -> None:
        request = decode_request(body, self.security)
        threading.Thread(target=self._answer, args=(request,), daemon=True).start()

    def _answer(self, request: Any) -> None:
        def send(sender: str, data: Any) -> None:
            reply = Reply(request=request.id, sender=sender, agent=request.agent, data=data)
            self.connector.publish_reply(encode_reply(reply, self.security),
                                         request.reply_to, ttl=60)

        if request.agent == "discovery":
            send(ROGUE, "pong")
            return
        # The flood first (the call waits for this node, so it reads all of it),
        # with duplicates, then this node's own answer.
        self.floods += 1
        for i in range(FLOOD):
            send(f"flood-{i}.example.net", {"pong": i})
            if i % 10 == 0:
                send("flood-0.example.net", {"pong": 0})  # duplicates: counted once
        send(ROGUE, {"pong": 0})

    def close(self) -> None:
        self.connector.close()


def test_a_node_flooding_replies(collective: LocalCollective, tmp_path: Path) -> None:
    start_fleet(collective, {"web1.example.net": ({"role": "web"}, [])}, guarded=False)
    rogue = Rogue(collective)
    console = Console(collective, tmp_path / "console",
                      settings={"max_replies": 200}).start()
    try:
        api = console.api("alice")
        assert sorted(api.post("/api/v1/discover", json={}).json()["nodes"]) == [
            "rogue.example.net", "web1.example.net"]
        job = api.post("/api/v1/rpc/jobs", json={"agent": "rpcutil", "action": "ping",
                                                 "timeout": 5}).json()
        # The console answers other requests while the flood comes in.
        started = time.monotonic()
        while time.monotonic() - started < 3:
            assert api.get("/api/v1/status").status_code == 200
            time.sleep(0.2)
        events = sse_events(api, job["id"])
        results = [r for name, b in events if name == "results" for r in b]
        done = next(data for name, data in events if name == "done")
        warning = next(data for name, data in events if name == "warning")
        assert len(results) == 200
        assert done["dropped"] > 0 and "counted, not kept" in warning["message"]
        assert len({r["sender"] for r in results}) == len(results)  # no duplicates
        assert done["stats"]["noresponsefrom"] == []
        entry = api.get(f"/api/v1/history/{job['id']}").json()
        assert len(entry["replies"]) == 200 and entry["replies_dropped"] > 0
        # Afterwards, business as usual.
        again = api.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping",
                                              "filter": "-I web1.example.net"}).json()
        assert [r["sender"] for r in again["results"]] == ["web1.example.net"]
        assert rogue.floods >= 1
    finally:
        console.stop()
        rogue.close()
    assert "Traceback" not in console.log()


BROKEN_DDL = """{"$schema": "https://choria.io/schemas/mcorpc/ddl/v1/agent.json",
 "metadata": {"name": "broken", "description": "x", "author": "x", "license": "x",
              "version": "1.0", "url": "https://example.net", "timeout": 5},
 "actions": [{"action": "go", "description": "x", "display": "sometimes",
              "input": {}, "output": {}}]}"""


def test_an_invalid_ddl(collective: LocalCollective, tmp_path: Path) -> None:
    """An external agent whose DDL breaks the schema is listed with the loader's error;
    every other agent works."""
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "broken.json").write_text(BROKEN_DDL)
    (agents / "broken").write_text("#!/bin/sh\necho '{}'\n")
    (agents / "broken").chmod(0o755)
    start_fleet(collective, {"web1.example.net": ({"role": "web"}, [])}, guarded=False)
    config = collective.write_client_config("broken.cfg", **{
        "plugin.external.agents_dir": str(agents)})
    console = Console(collective, tmp_path / "console", config=config).start()
    try:
        api = console.api("alice")
        listed = {a["agent"]: a for a in api.get("/api/v1/agents").json()}
        assert "display" in listed["broken"]["error"]
        assert "broken.json" in listed["broken"]["error"]
        assert listed["rpcutil"]["error"] is None
        refused = api.post("/api/v1/rpc", json={"agent": "broken", "action": "go"})
        assert refused.status_code == 422 and "cannot be used" in refused.json()["detail"]
        assert api.get("/api/v1/agents/broken").status_code == 422
        page = api.get("/agents").text
        assert "DDL cannot be used" in page and "broken.json" in page
        assert api.get("/agents/broken/go").status_code == 422
        ok = api.post("/api/v1/rpc", json={"agent": "rpcutil", "action": "ping"}).json()
        assert [r["sender"] for r in ok["results"]] == ["web1.example.net"]
    finally:
        console.stop()
    assert "Traceback" not in console.log()


def test_refuses_to_listen_on_the_network_without_tls(collective: LocalCollective,
                                                      tmp_path: Path) -> None:
    console = Console(collective, tmp_path / "console")
    proc = console.mco_web("--listen", f"0.0.0.0:{free_port()}")
    assert proc.returncode == 1
    assert "refusing to listen on 0.0.0.0 without TLS" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad = console.mco_web("--listen", "127.0.0.1:99999")
    assert bad.returncode == 1 and "port must be 1 to 65535" in bad.stderr


def self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "console.crt", directory / "console.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_secure_cookies_and_hsts(collective: LocalCollective, tmp_path: Path) -> None:
    import httpx

    cert, key = self_signed(tmp_path)
    console = Console(collective, tmp_path / "console")
    console.url = console.url.replace("http://", "https://")
    console._ready = lambda: _tls_ready(console)  # type: ignore[method-assign]
    console.start("--tls-cert", str(cert), "--tls-key", str(key))
    try:
        with httpx.Client(base_url=console.url, verify=False) as client:
            page = client.get("/login")
            assert page.headers["strict-transport-security"].startswith("max-age=")
            csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            signed = client.post("/login", data={
                "username": "alice", "password": "alice-password-1", "csrf_token": csrf,
                "next": "/"}, headers={"Origin": console.url}, follow_redirects=False)
            assert signed.status_code == 303
            cookie = signed.headers["set-cookie"]
            assert cookie.startswith("__Host-mco_session=")
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
            assert "Path=/" in cookie and "Domain" not in cookie
    finally:
        console.stop()


def _tls_ready(console: Console) -> bool:
    import httpx

    if console.process is not None and console.process.poll() is not None:
        raise AssertionError(console.log())
    try:
        return httpx.get(f"{console.url}/login", verify=False, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
