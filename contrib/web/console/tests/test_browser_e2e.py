"""The console in a real headless Chromium, against real daemons guarded by
actionpolicy, on the embedded default transport and on RabbitMQ: sign in, filter,
inventory, actions run from generated forms with results streaming in, a refused
action audited under the user's name, values from nodes shown as text."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from webconsole_helpers import (
    XSS,
    Console,
    audit_lines,
    chromium,
    screenshot,
    sign_in,
    sign_out,
    start_fleet,
    wait_until,
)

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import require_broker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Site:
    collective: LocalCollective
    console: Console
    transport: str

    @property
    def url(self) -> str:
        return self.console.url


@pytest.fixture(scope="module", params=[
    "embedded", pytest.param("amqp", marks=pytest.mark.broker("amqp"))])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    root = tmp_path_factory.mktemp(f"web-{request.param}")
    url, collectives = None, ("mcollective",)
    if request.param == "amqp":
        url = require_broker("amqp")
        collectives = (f"web{uuid.uuid4().hex[:10]}",)  # our own exchanges and queues
    collective = LocalCollective(root / "collective", connector_url=url,
                                 collectives=collectives)
    try:
        start_fleet(collective)
        console = Console(collective, root / "console").start()
        try:
            yield Site(collective, console, request.param)
        finally:
            console.stop()
    finally:
        collective.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module."""
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    browser.clear_cookies()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        page.close()
    assert not errors, f"JavaScript errors: {errors}"


def nodes_listed(page: Any) -> list[str]:
    return sorted(page.locator("#nodes li").all_inner_texts())


def test_sign_in_filter_and_node_inventory(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/")
    assert "/login" in page.url  # signed out: the sign-in page
    screenshot(page, "login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not her password")
    page.click("#password-form button[type=submit]")
    assert "wrong user name or password" in page.inner_text("#login-error")
    sign_in(page, site.url, "alice")
    assert "user=alice" in page.inner_text("header .user")

    # A mistake in the filter: mco's message and a caret under the bar, as you type.
    page.fill("#filter", '-F country=uk -S "cpus > 4 and ("')
    page.wait_for_selector("#filter-error:not([hidden])")
    error = page.inner_text("#filter-error")
    assert "unclosed '('" in error and "^" in error
    screenshot(page, "filter-error")

    page.fill("#filter", "-F country=uk")
    page.wait_for_selector("#filter-description li")
    assert "fact 'country' equals 'uk'" in page.inner_text("#filter-description")
    page.click("#discover-button")
    page.wait_for_selector("#discovery-state[data-done=yes]")
    assert nodes_listed(page) == ["db1.example.net", "web1.example.net"]
    assert page.inner_text("#node-count") == "2"
    assert "using the mc method" in page.inner_text("#discovery-state")

    # Saved filters survive a reload.
    page.fill("#save-name", "uk nodes")
    page.click("#save-filter")
    page.wait_for_selector("#save-message:has-text('saved as')")
    page.fill("#filter", "-C mysql")
    page.click("#discover-button")
    page.wait_for_selector("#discovery-state[data-done=yes]")
    assert nodes_listed(page) == ["db1.example.net"]
    page.reload()
    page.select_option("#saved-filters", "uk nodes")
    assert page.input_value("#filter") == "-F country=uk"
    page.click("#discover-button")
    page.wait_for_selector("#discovery-state[data-done=yes]")
    assert nodes_listed(page) == ["db1.example.net", "web1.example.net"]
    screenshot(page, "discover")

    # A node's inventory: facts as a searchable tree, classes, agents with versions.
    page.click("#nodes a:has-text('web1.example.net')")
    page.wait_for_selector("#node-identity")
    assert page.inner_text("#node-identity") == "web1.example.net"
    assert page.locator("#node-classes li").all_inner_texts() == ["apache", "base"]
    agents = page.inner_text("#node-agents")
    assert "rpcutil" in agents and "package" in agents and "0.1.0" in agents
    assert site.collective.collectives[0] in page.inner_text("#node-collectives")
    assert "passed" in page.inner_text("#node-stats")
    page.fill("#fact-search", "Debian")
    assert page.locator("#facts li.leaf:visible").all_inner_texts() == ["family Debian"]
    assert "1 matching fact" in page.inner_text("#fact-matches")
    page.fill("#fact-search", "")
    screenshot(page, "node")


def run_form(page: Any, site: Site, agent: str, action: str, inputs: dict[str, str],
             filter_: str = "") -> None:
    page.goto(f"{site.url}/agents/{agent}/{action}")
    for name, value in inputs.items():
        page.fill(f"#in-{name}", value)
    if filter_:
        page.fill("#filter", filter_)
    page.click("#run-button")


def test_run_ping_and_package_status_from_generated_forms(page: Any, site: Site) -> None:
    sign_in(page, site.url, "alice")
    page.goto(f"{site.url}/agents")
    assert page.locator("#agent-package dt a").filter(has_text="status").count() == 1
    screenshot(page, "agents")

    run_form(page, site, "rpcutil", "ping", {})
    page.wait_for_selector("#run[data-done=yes]")
    rows = page.locator("#results tbody tr")
    assert sorted(rows.locator("td:first-child").all_inner_texts()) == sorted(
        site.collective.nodes)
    assert page.inner_text("#progress-text").startswith("4 / 4 replies")
    assert page.get_attribute("#progress", "value") == page.get_attribute("#progress", "max")
    assert "Timestamp" in page.inner_text("#results thead")  # display_as of 'pong'

    # The generated form checks inputs with the DDL's validators before sending.
    run_form(page, site, "package", "status", {"package": "bash;reboot"})
    page.wait_for_selector(".field-error[data-for=package]:not([hidden])")
    assert "'package'" in page.inner_text(".field-error[data-for=package]")
    assert page.url.endswith("/agents/package/status")  # nothing was sent

    run_form(page, site, "package", "status", {"package": "bash"}, "-C apache")
    page.wait_for_selector("#run[data-done=yes]")
    header = page.inner_text("#results thead")
    assert "Ensure" in header and "Version" in header  # the DDL's display_as labels
    senders = sorted(page.locator("#results tbody td:first-child").all_inner_texts())
    assert senders == ["web1.example.net", "web2.example.net"]
    assert page.locator("#results tbody tr.row-failed").count() == 0
    assert "summary of ensure" in page.inner_text("#summaries")  # DDL aggregate chart
    assert page.locator("#summaries svg rect.bar").count() >= 1
    assert page.inner_text("#request-id") not in ("", "…")
    screenshot(page, "run")

    # The history has both, with who, what, the filter and the outcome; re-run one.
    page.goto(f"{site.url}/history")
    first = page.locator("#history tbody tr").first
    assert "package#status" in first.inner_text()
    assert "-C apache" in first.inner_text()
    screenshot(page, "history")
    first.locator("a").first.click()
    page.wait_for_selector("#entry")
    assert "alice as user=alice" in page.inner_text("#entry")
    assert page.locator("#replies tbody tr").count() == 2
    screenshot(page, "history-entry")
    page.click("#rerun")
    page.wait_for_selector("#run[data-done=yes]")
    assert page.locator("#results tbody tr").count() == 2


def test_a_denied_action_is_refused_and_audited_as_the_user(page: Any, site: Site) -> None:
    sign_in(page, site.url, "bob")
    run_form(page, site, "package", "status", {"package": "bash"}, "-I web1.example.net")
    page.wait_for_selector("#run[data-done=yes]")
    row = page.locator("#results tbody tr")
    assert row.count() == 1
    assert "row-failed" in (row.get_attribute("class") or "")
    assert "not authorized" in row.inner_text()
    request_id = page.inner_text("#request-id")

    def refusal() -> dict[str, Any] | None:
        return next((line for line in audit_lines(site.collective, "web1.example.net")
                     if line["request_id"] == request_id), None)

    line = wait_until(refusal, what="the refusal in web1's audit log")
    assert line["caller"] == "user=bob"
    assert line["authorized"] is False
    assert (line["agent"], line["action"]) == ("package", "status")
    # rpcutil is allowed to everybody, and audited under bob's name too.
    run_form(page, site, "rpcutil", "ping", {}, "-I web1.example.net")
    page.wait_for_selector("#run[data-done=yes]")
    assert page.locator("#results tbody tr.row-failed").count() == 0
    ping_id = page.inner_text("#request-id")
    assert any(line["request_id"] == ping_id and line["caller"] == "user=bob"
               for line in audit_lines(site.collective, "web1.example.net"))
    # bob sees his own history only.
    page.goto(f"{site.url}/history")
    assert "alice" not in page.inner_text("#history tbody")
    sign_out(page)


def collect_fleet(page: Any, site: Site, filter_: str) -> None:
    page.goto(f"{site.url}/fleet")
    page.fill("#filter", filter_)
    with page.expect_navigation(url=re.compile(r"/fleet\?job=\d+$")):
        page.click("#fleet-refresh")
    page.wait_for_selector("#fleet-table")


def test_values_from_nodes_render_as_text(page: Any, site: Site) -> None:
    """A fact holding markup is shown as text on every page that shows it, and never
    runs."""
    sign_in(page, site.url, "alice")
    page.goto(f"{site.url}/nodes/xss.example.net")
    page.wait_for_selector("#facts")
    assert XSS in page.inner_text("#facts")
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("#facts img").count() == 0

    run_form(page, site, "rpcutil", "get_fact", {"fact": "motd"}, "-I xss.example.net")
    page.wait_for_selector("#run[data-done=yes]")
    assert XSS in page.inner_text("#results tbody")
    assert page.evaluate("() => window.__xss") is None

    collect_fleet(page, site, "-F role=db")
    page.fill("#fleet-columns", "motd, cpus")
    page.click("#fleet-view button")
    page.wait_for_selector("#fleet-table")
    assert XSS in page.inner_text("#fleet-table")
    assert "<script>window.__xss" in page.inner_text("#fleet-charts")  # label cut short
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("#fleet-table img, #fleet-charts img").count() == 0


def test_fleet_view_columns_sorting_filtering_and_charts(page: Any, site: Site) -> None:
    sign_in(page, site.url, "alice")
    collect_fleet(page, site, "")
    assert page.inner_text("#fleet-total") == "4"
    page.fill("#fleet-columns", "cpus, os.family")
    page.click("#fleet-view button")
    page.wait_for_selector("#fleet-table")
    page.click("#fleet-table th a:has-text('cpus')")
    page.wait_for_selector("#fleet-table th a[aria-sort=ascending]")
    first = page.locator("#fleet-table tbody tr td:first-child").all_inner_texts()
    assert first == ["xss.example.net", "web1.example.net", "web2.example.net",
                     "db1.example.net"]  # 2, 4, 16, 32: numbers sort as numbers
    page.click("#fleet-table th a:has-text('cpus')")
    page.wait_for_selector("#fleet-table th a[aria-sort=descending]")
    assert page.locator("#fleet-table tbody tr td:first-child").first.inner_text() == \
        "db1.example.net"
    page.fill("#fleet-q", "RedHat")
    page.click("#fleet-view button")
    page.wait_for_selector("#fleet-table")
    assert page.locator("#fleet-table tbody tr").all_inner_texts()[0].startswith(
        "web2.example.net")
    assert page.locator("#fleet-table tbody tr").count() == 1
    page.fill("#fleet-q", "")
    page.click("#fleet-view button")
    page.wait_for_selector("#agent-chart")
    charts = page.inner_text("#fleet-charts")
    assert "os.family" in charts and "package versions" in charts
    screenshot(page, "fleet")


def test_screenshots_are_written_when_asked(tmp_path: Path, page: Any, site: Site,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The documentation's pictures come from these tests (MCO_WEB_SCREENSHOTS)."""
    monkeypatch.setenv("MCO_WEB_SCREENSHOTS", str(tmp_path))
    page.goto(f"{site.url}/login")
    screenshot(page, "probe")
    assert (tmp_path / "probe.png").stat().st_size > 1000
