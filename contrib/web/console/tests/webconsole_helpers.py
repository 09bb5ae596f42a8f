"""Shared parts of the web console's tests: a real ``mco web`` process against a real
collective, API clients, and a real headless Chromium (a plain module with a unique
name: the contrib test directories may share one pytest run)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import brokers_required, free_port
from mcollective.testing.collective import _script

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22"}

#: Fleet used by most tests: facts, classes, and one node whose facts hold markup.
XSS = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">"
FLEET = {
    "web1.example.net": ({"country": "uk", "role": "web", "cpus": 4,
                          "os": {"family": "Debian", "release": {"major": "12"}}},
                         ["apache", "base"]),
    "web2.example.net": ({"country": "de", "role": "web", "cpus": 16,
                          "os": {"family": "RedHat", "release": {"major": "9"}}},
                         ["apache", "base"]),
    "db1.example.net": ({"country": "uk", "role": "db", "cpus": 32,
                         "os": {"family": "Debian", "release": {"major": "11"}}},
                        ["mysql", "base"]),
    "xss.example.net": ({"country": "fr", "role": "db", "cpus": 2, "motd": XSS,
                         "os": {"family": "Debian", "release": {"major": "12"}}},
                        ["base"]),
}
# Everyone may use rpcutil; only alice may use the package agent.
POLICIES = {
    "rpcutil.policy": "policy default allow\n",
    "package.policy": "policy default deny\nallow\tuser=alice\t*\t*\t*\n",
}


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start_fleet(collective: LocalCollective, nodes: dict[str, Any] | None = None,
                *, guarded: bool = True) -> LocalCollective:
    """The fleet's daemons, each with actionpolicy and a JSON audit log of its own
    (``<node dir>/audit.log``)."""
    policies = collective.root / "policies"
    policies.mkdir(exist_ok=True)
    for name, text in POLICIES.items():
        (policies / name).write_text(text, encoding="utf-8")
    for identity, (facts, classes) in (nodes or FLEET).items():
        settings: dict[str, Any] = {}
        if guarded:
            settings = {
                "rpcauthorization": 1, "rpcauthprovider": "actionpolicy",
                "plugin.actionpolicy.policy_dir": str(policies),
                "rpcaudit": 1, "rpcauditprovider": "logfile",
                "plugin.rpcaudit.logfile": str(collective.root / "nodes" / identity /
                                               "audit.log"),
            }
        collective.add_node(identity, facts=facts, classes=classes, wait=False,
                            settings=settings)
    for node in collective.nodes.values():
        collective.wait_ready(node)
    return collective


def audit_lines(collective: LocalCollective, identity: str) -> list[dict[str, Any]]:
    path = collective.root / "nodes" / identity / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Console:
    """``mco web`` run as a user would run it, on a free port."""

    def __init__(self, collective: LocalCollective, root: Path, *,
                 config: Path | None = None, settings: dict[str, Any] | None = None,
                 users: dict[str, bool] | None = None) -> None:
        self.collective = collective
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.users_file = root / "users.yaml"
        self.state = root / "state"
        extra = {f"plugin.web.{k}": v for k, v in (settings or {}).items()}
        self.config = config or collective.write_client_config(f"web-{root.name}.cfg",
                                                               **extra)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        for name, admin in (users if users is not None else
                            {"alice": True, "bob": False}).items():
            self.add_user(name, admin=admin)

    def mco_web(self, *args: str, input: str | None = None
                ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_script("mco"), "web", "-c", str(self.config), *args,
             "--users", str(self.users_file), "--state", str(self.state)],
            env=self.collective.env(), input=input, capture_output=True, text=True,
            timeout=60, check=False)

    def add_user(self, name: str, *, admin: bool = False) -> None:
        proc = self.mco_web("useradd", name, "--password-stdin",
                            *(["--admin"] if admin else []),
                            input=PASSWORDS.get(name, f"{name}-password") + "\n")
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def start(self, *extra: str) -> Console:
        log = open(self.root / "console.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*_script("mco"), "web", "-c", str(self.config), "--listen",
             f"127.0.0.1:{self.port}", "--users", str(self.users_file), "--state",
             str(self.state), *extra],
            env=self.collective.env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._ready, 60, f"mco web on {self.url}\n{self.log()}")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"mco web exited with {self.process.returncode}:\n"
                                 f"{self.log()}")
        try:
            return httpx.get(f"{self.url}/login", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        path = self.root / "console.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def api(self, user: str = "alice") -> httpx.Client:
        """An API client signed in as ``user`` with a bearer token."""
        response = httpx.post(f"{self.url}/api/v1/login", json={
            "username": user, "password": PASSWORDS.get(user, f"{user}-password")})
        assert response.status_code == 200, response.text
        return httpx.Client(base_url=self.url, timeout=120, headers={
            "Authorization": f"Bearer {response.json()['token']}"})


def sse_events(client: httpx.Client, job: int, timeout: float = 120
               ) -> list[tuple[str, Any]]:
    """Every event of a job's stream, parsed, until its end."""
    out: list[tuple[str, Any]] = []
    with client.stream("GET", f"/api/v1/jobs/{job}/events", timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        name, data = None, []
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and name:
                out.append((name, json.loads("\n".join(data))))
                if name == "end":
                    break
                name, data = None, []
    return out


# --- the browser ------------------------------------------------------------------------


def browser_problem() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (Debian package chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright (PyPI) is not installed"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium (Debian's), driven by Playwright: skipped with a
    reason where it cannot run, failed instead in CI (MCO_REQUIRE_BROKERS=1)."""
    problem = browser_problem()
    if problem:
        if brokers_required() or os.environ.get("MCO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here but {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="mco-web-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900})
            context.set_default_timeout(60_000)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(page: Any, url: str, user: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("header .user")


def sign_out(page: Any) -> None:
    page.click("header .user button")
    page.wait_for_selector("#password-form")


def screenshot(page: Any, name: str) -> None:
    """Pages for the documentation: written to $MCO_WEB_SCREENSHOTS when set."""
    target = os.environ.get("MCO_WEB_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)
