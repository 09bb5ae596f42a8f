"""Actions that hang, served by real ``mcollectived`` processes and called with the real
``mco`` (issue 11, items 7 and 8).

* the client waits past the DDL timeout long enough to get the node's "timed out after
  N seconds" reply, instead of reporting "no response";
* an action running an external command has it killed at the timeout;
* pure-Python actions that never return are counted (``stuck``, ``stuck_actions`` in
  ``daemon_stats``), and once ``max_stuck_actions`` of an agent hang the node refuses
  that agent's new requests with a clear status instead of growing a thread per request.

The agent is a real distribution: a module and its ``.dist-info`` entry point on the
``PYTHONPATH`` of the daemons and of ``mco``.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from fleet import daemon_stats

from mcollective.testing import LocalCollective

AGENT = textwrap.dedent('''
    """Test agent whose actions hang (tests/test_hung_actions_e2e.py)."""
    import time

    from mcollective.agent import Agent
    from mcollective.ddl import AgentDDL, action_ddl, output_item


    class Hang(Agent):
        agent_name = "hang"

        @classmethod
        def load_ddl(cls):
            return AgentDDL.build(
                name="hang", description="actions that hang", author="tests",
                license="Apache-2.0", version="1.0.0", url="https://example.net",
                timeout=2, actions=[
                    action_ddl("forever", "pure Python that never returns",
                               display="always"),
                    action_ddl("command", "an external command that outlives the timeout",
                               display="always"),
                    action_ddl("quick", "returns at once", display="always",
                               outputs=[output_item("ok", description="done")]),
                ])

        def forever(self, request, reply):
            while True:  # ignores request.cancelled on purpose
                time.sleep(0.2)

        def command(self, request, reply):
            self.run_command(["sleep", "600"], request=request)

        def quick(self, request, reply):
            reply["ok"] = True
''')


@pytest.fixture
def hang_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hangagent.py").write_text(AGENT)
    info = site / "mco_test_hangagent-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mco-test-hangagent\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[mcollective.agents]\nhang = hangagent:Hang\n")
    monkeypatch.setenv("PYTHONPATH", str(site))  # daemons and mco inherit it
    return site


def rpc(collective: LocalCollective, *args: str) -> subprocess.CompletedProcess[str]:
    return collective.mco("rpc", "hang", *args, timeout=120)


def results(collective: LocalCollective, action: str) -> list[dict[str, Any]]:
    proc = rpc(collective, action, "--json-format", "mcollective")
    return json.loads(proc.stdout)


def test_mco_reports_the_nodes_timeout_not_no_response(tmp_path: Path,
                                                        hang_site: Path) -> None:
    with LocalCollective(tmp_path / "c") as collective:
        collective.add_node("n1")
        proc = rpc(collective, "forever")
        out = proc.stdout + proc.stderr
        assert "hang#forever timed out after 2 seconds" in out, out
        assert "No response" not in out and "did not answer" not in out, out
        [result] = results(collective, "forever")
        assert result["statuscode"] == 1 and "timed out after 2" in result["statusmsg"]


def test_external_commands_are_killed_at_the_timeout(tmp_path: Path,
                                                      hang_site: Path) -> None:
    with LocalCollective(tmp_path / "c") as collective:
        node = collective.add_node("n1")
        [result] = results(collective, "command")
        assert result["statuscode"] == 1, result
        daemon = psutil.Process(node.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sleepers = [p for p in daemon.children(recursive=True)
                        if p.name() == "sleep"]
            if not sleepers:
                break
            time.sleep(0.2)
        assert not sleepers, "the external command outlived its action's timeout"
        assert daemon_stats(collective, "n1")["stuck_actions"] == {}


def test_hung_actions_are_bounded_and_reported(tmp_path: Path, hang_site: Path) -> None:
    with LocalCollective(tmp_path / "c",
                         extra_config={"max_stuck_actions": 3}) as collective:
        collective.add_node("n1")
        baseline = len(daemon_stats(collective, "n1")["threads"])
        for _ in range(3):
            [result] = results(collective, "forever")
            assert result["statuscode"] == 1 and "timed out" in result["statusmsg"]
        stats = daemon_stats(collective, "n1")
        assert stats["stuck_actions"] == {"hang": 3}, stats
        assert stats["stuck"] == 3
        # Now the agent refuses, with a reason, instead of taking another thread.
        for _ in range(5):
            [result] = results(collective, "forever")
            assert result["statuscode"] == 1
            assert "refusing new requests" in result["statusmsg"], result
            assert "max_stuck_actions" in result["statusmsg"]
        [quick] = results(collective, "quick")
        assert "refusing new requests" in quick["statusmsg"]
        stats = daemon_stats(collective, "n1")
        assert stats["refused"] == 6, stats
        # 3 stuck workers, give or take an idle one: not one per request.
        assert len(stats["threads"]) <= baseline + 4, stats["threads"]
        # Other agents are not affected.
        ping = collective.mco("ping", timeout=60)
        assert "n1" in ping.stdout, ping.stdout + ping.stderr
