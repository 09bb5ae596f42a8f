"""The console's pure parts: the filter bar, accounts, settings, table and chart views,
the job event buffer, and the promise that ``mco`` does not import the web stack."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mcollective.config import config_from_text
from mcollective.errors import ConfigError
from mcollective_web import filterbar, views
from mcollective_web.accounts import AccountError, Accounts
from mcollective_web.jobs import Job, Jobs, TooBusy
from mcollective_web.settings import WebSettings, listen_address

# --- the filter bar ------------------------------------------------------------------


def test_filter_bar_takes_the_mco_options() -> None:
    spec = filterbar.parse('-F country=uk --wc apache -S "cpus > 4 and role=web" '
                           "-Iweb1 --with-agent=package  os.family=Debian base")
    assert [(t.kind, t.value) for t in spec.terms] == [
        ("facts", "country=uk"), ("classes", "apache"),
        ("compound", "cpus > 4 and role=web"), ("identities", "web1"),
        ("agents", "package"), ("with_", "os.family=Debian"), ("with_", "base")]
    assert spec.to_options()[:4] == ["-F", "country=uk", "-C", "apache"]
    # Each value knows where it starts, for carets.
    text = spec.text
    for term in spec.terms:
        assert text[term.position:].startswith(term.value.split()[0])


@pytest.mark.parametrize(("text", "message", "position"), [
    ("-F country=uk -X y", "unknown filter option -X", 14),
    ("-F", "-F needs a value", 2),
    ('-S "cpus > 4', "unterminated quote", 3),
    ("x" * 5000, "longer than 4096", 4096),
])
def test_filter_bar_mistakes(text: str, message: str, position: int) -> None:
    with pytest.raises(filterbar.FilterBarError, match=message) as err:
        filterbar.parse(text)
    assert err.value.position == position


def test_tokenizer_quotes_and_escapes() -> None:
    assert filterbar.tokenize(r'a "b c" \'d\' "e\"f"'.replace("\\'", "'")) == [
        ("a", 0), ("b c", 3), ("d", 9), ('e"f', 13)]


# --- accounts ------------------------------------------------------------------------


def test_accounts_hash_check_and_file_mode(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path / "web" / "users.yaml")
    accounts.add("alice", "correct horse", admin=True)
    accounts.add("bob", "battery staple", caller="uid=1001")
    mode = stat.S_IMODE(os.stat(accounts.path).st_mode)
    assert mode == 0o600
    text = accounts.path.read_text()
    assert "correct horse" not in text and "$argon2id$" in text
    assert accounts.authenticate("alice", "correct horse").admin is True  # type: ignore[union-attr]
    assert accounts.authenticate("alice", "wrong") is None
    assert accounts.authenticate("nobody", "correct horse") is None
    assert accounts.authenticate("bob", "battery staple").caller == "uid=1001"  # type: ignore[union-attr]
    accounts.set_password("bob", "new password")
    assert accounts.authenticate("bob", "battery staple") is None
    accounts.remove("bob")
    assert list(accounts.users()) == ["alice"]
    with pytest.raises(AccountError, match="at least 8"):
        accounts.add("carol", "short")
    with pytest.raises(AccountError, match="must be 1 to 64"):
        accounts.add("bad name", "long enough")
    with pytest.raises(AccountError, match="exists"):
        accounts.add("alice", "long enough")


def test_a_broken_accounts_file_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  alice:\n    password: plain-text\n")
    with pytest.raises(ConfigError, match=r"users\.alice\.password.*argon2"):
        Accounts(path).users()
    path.write_text("users:\n  alice:\n    password: $argon2id$x\n    shell: /bin/sh\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        Accounts(path).users()


# --- settings ------------------------------------------------------------------------


def test_listen_addresses() -> None:
    assert listen_address("8081") == ("127.0.0.1", 8081)
    assert listen_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert listen_address("[::1]:8080") == ("::1", 8080)
    with pytest.raises(ValueError, match="port"):
        listen_address("127.0.0.1:0")


def test_settings_from_the_client_configuration(tmp_path: Path) -> None:
    config = config_from_text(
        f"statedir = {tmp_path}\nplugin.web.listen = 127.0.0.1:9000\n"
        "plugin.web.max_replies = 50\nplugin.web.login_rate = 3/minute\n")
    settings = WebSettings.from_config(config)
    assert (settings.host, settings.port, settings.max_replies) == ("127.0.0.1", 9000, 50)
    assert settings.users_file == tmp_path / "web" / "users.yaml"
    assert not settings.cookies_secure
    bad = config_from_text("plugin.web.login_rate = often\n")
    with pytest.raises(ConfigError, match=r"plugin\.web\.login_rate"):
        WebSettings.from_config(bad)
    unknown = config_from_text("plugin.web.lisen = 1\n")
    assert WebSettings.from_config(unknown).port == WebSettings.from_config(
        config_from_text("")).port
    with pytest.raises(ConfigError, match="without TLS"):
        WebSettings.from_config(config, listen="10.1.2.3:8080")
    assert WebSettings.from_config(config, listen="10.1.2.3:8080",
                                   insecure_http=True).host == "10.1.2.3"


# --- views ------------------------------------------------------------------------------


def test_fleet_rows_sort_numbers_as_numbers_and_filter() -> None:
    replies = [{"sender": n, "statuscode": 0, "statusmsg": "OK",
                "data": {"facts": {"cpus": c, "os": {"family": f}}, "agents": ["rpcutil"]}}
               for n, c, f in (("a", 16, "Debian"), ("b", 4, "RedHat"), ("c", 32, "Debian"))]
    rows = views.fleet_rows(replies)
    assert [r["identity"] for r in views.select(rows, ["cpus"], sort="cpus")] == \
        ["b", "a", "c"]
    assert [r["identity"] for r in views.select(rows, ["os.family"], query="redhat")] == \
        ["b"]
    assert views.default_columns(rows) == ["cpus", "os.family"]
    assert views.fact_chart(rows, "os.family")[0] == {"label": "Debian", "count": 2,
                                                      "percent": 100.0}
    many = views.chart({str(i): i for i in range(1, 30)}, limit=5)
    assert len(many) == 5 and many[-1]["label"] == "(25 others)"


def test_show_and_tree() -> None:
    assert views.show({"b": 1, "a": [True, None]}) == '{"a": [true, null], "b": 1}'
    assert views.show(None) == "" and views.show(False) == "false"
    tree = views.tree({"os": {"family": "Debian"}, "ips": ["1", "2"]})
    assert tree[0] == {"key": "ips", "path": "ips", "value": '["1", "2"]'}
    assert tree[1]["children"][0]["path"] == "os.family"


# --- jobs --------------------------------------------------------------------------------


def test_a_job_keeps_at_most_max_results_and_streams_in_batches() -> None:
    async def scenario() -> tuple[list[int], Job]:
        job = Job(id=1, kind="rpc", user="alice", meta={}, loop=asyncio.get_running_loop(),
                  max_results=10)
        sizes: list[int] = []

        async def reader() -> None:
            async for batch in job.follow(heartbeat=5):
                sizes.append(len(batch))

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.01)

        def work() -> None:
            for i in range(25):
                job.emit_result({"sender": f"n{i}"})
            job.finish()

        await asyncio.to_thread(work)
        await asyncio.wait_for(task, 5)
        return sizes, job

    sizes, job = asyncio.run(scenario())
    assert job.results == 10 and job.dropped == 15
    assert sum(sizes) == 11  # 10 results and one warning
    assert [e.name for e in job.snapshot()[0]].count("warning") == 1


def test_the_registry_bounds_running_jobs() -> None:
    jobs = Jobs(max_running=2, max_running_per_user=1)
    loop = asyncio.new_event_loop()
    try:
        gate = threading.Event()
        jobs.start(Job(1, "rpc", "alice", {}, loop), lambda job: gate.wait(5))
        with pytest.raises(TooBusy, match="1 of your requests"):
            jobs.check_room("alice")
        jobs.start(Job(2, "rpc", "bob", {}, loop), lambda job: gate.wait(5))
        with pytest.raises(TooBusy, match="the console is running 2"):
            jobs.check_room("carol")
        gate.set()
    finally:
        jobs.shutdown()
        loop.close()


# --- start-up cost -------------------------------------------------------------------------


def test_mco_does_not_import_the_web_stack() -> None:
    """Listing and loading ``mco web`` must not cost ``mco`` start-up time."""
    code = ("import sys; from mcollective.plugins import make_plugin_manager; "
            "make_plugin_manager().application_class('web'); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'jinja2', "
            "'pydantic', 'argon2', 'limits') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"
