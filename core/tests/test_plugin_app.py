"""``mco plugin doc`` and ``mco plugin generate agent`` (in process; the install-and-call
proof is tests/test_plugin_generate_e2e.py)."""

from __future__ import annotations

import ast
import io
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcollective.cli.apps.plugin import Plugin
from mcollective.cli.apps.scaffold import AgentScaffold, generate_agent, json_ddl
from mcollective.config import config_from_text
from mcollective.ddl import AgentDDL
from mcollective.errors import MCollectiveError
from mcollective.plugins import make_plugin_manager


@dataclass
class Run:
    code: int
    out: str
    err: str


def plugin(*argv: str, config: str = "") -> Run:
    out, err = io.StringIO(), io.StringIO()
    app = Plugin(make_plugin_manager(), stdout=out, stderr=err)
    app.args = app.build_parser().parse_args(list(argv))
    app.config = config_from_text(config, role="client")
    return Run(app.main(app.args), out.getvalue(), err.getvalue())


# --- doc ------------------------------------------------------------------------------------


def test_doc_lists_plugins_by_kind() -> None:
    run = plugin("doc")
    assert run.code == 0
    out = run.out
    assert out.startswith("Please specify a plugin. Available plugins are:")
    for heading in ("Agents:", "Aggregate:", "Connector Plugins:", "Discovery Methods:",
                    "Validator Plugins:", "Applications:"):
        assert f"\n{heading}\n" in out
    assert "  rpcutil " in out and "General helpful actions" in out
    assert "  summary " in out and "  boolean_summary " in out
    assert "  plugin " in out


def test_doc_reports_broken_agent_ddls(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text(json.dumps({"metadata": {"name": "broken"}}))
    exe = tmp_path / "broken"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    run = plugin("doc", config=f"plugin.external.agents_dir = {tmp_path}")
    assert "  broken " in run.out and "DDL error" in run.out
    assert "could not be loaded or have a broken DDL" in run.err


def test_doc_of_an_agent_renders_its_ddl() -> None:
    run = plugin("doc", "rpcutil")
    assert run.code == 0
    assert run.out.startswith("rpcutil\n=======\n")
    assert "   get_fact action:" in run.out and "Display As: Value" in run.out
    only = plugin("doc", "agent/rpcutil", "ping").out
    assert only.startswith("rpcutil#ping") and "get_fact action" not in only


def test_doc_json_exports_the_choria_ddl() -> None:
    run = plugin("doc", "rpcutil", "--json")
    ddl = AgentDDL.from_dict(json.loads(run.out))
    assert ddl.name == "rpcutil" and "get_fact" in ddl.actions


def test_doc_of_other_plugins_shows_their_documentation() -> None:
    run = plugin("doc", "aggregate/average")
    assert "average (Aggregate)" in run.out and "mcollective.aggregates.average" in run.out
    assert "mean of a numeric output" in run.out
    assert "shellsafe (Validator Plugins)" in plugin("doc", "shellsafe").out


@pytest.mark.parametrize(("argv", "message"), [
    (("doc", "nothing_here"), "no plugin 'nothing_here'"),
    (("doc", "agent/nothing_here"), "no agent 'nothing_here'"),
    (("doc", "widget/x"), "unknown plugin kind 'widget'"),
    (("doc", "summary", "--json"), "not an agent"),
    (("doc", "--json"), "needs an agent name"),
])
def test_doc_mistakes(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(MCollectiveError, match=message):
        plugin(*argv)


# --- generate -------------------------------------------------------------------------------


def test_generate_writes_a_python_ddl_distribution(tmp_path: Path) -> None:
    run = plugin("generate", "agent", "web_check", "--actions", "status,restart",
                 "-d", str(tmp_path), "--description", "Checks web servers.",
                 "--author", "Ops Team", "--timeout", "30")
    assert run.code == 0 and "Created" in run.out
    root = tmp_path / "mcollective-agent-web_check"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md", "pyproject.toml", "src/mcollective_agent_web_check/__init__.py",
        "src/mcollective_agent_web_check/agent.py",
        "src/mcollective_agent_web_check/py.typed", "tests/test_web_check.py"]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "mcollective-agent-web_check"
    assert project["project"]["authors"] == [{"name": "Ops Team"}]
    assert project["project"]["entry-points"]["mcollective.agents"] == {
        "web_check": "mcollective_agent_web_check.agent:WebCheck"}
    for path in root.rglob("*.py"):
        ast.parse(path.read_text())  # valid Python
    agent = (root / "src/mcollective_agent_web_check/agent.py").read_text()
    assert "def status(" in agent and "def restart(" in agent
    assert '"timeout": 30' in agent and '"""Checks web servers."""' in agent


def test_the_generated_agent_builds_its_ddl(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    generate_agent(AgentScaffold("probe", actions=["one", "two"]), tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "mcollective-agent-probe" / "src"))
    from mcollective_agent_probe import Probe

    ddl = Probe.load_ddl()
    assert list(ddl.actions) == ["one", "two"]
    one = ddl.action("one")
    assert one.display == "always" and one.validate({}) == {"message": "hello"}
    assert one.outputs["message"].display_as == "Message"


def test_generate_json_ddl_and_mcollective_style_actions(tmp_path: Path) -> None:
    plugin("generate", "agent", "legacy", "actions=a,b", "--ddl", "json",
           "-d", str(tmp_path))
    pkg = tmp_path / "mcollective-agent-legacy" / "src" / "mcollective_agent_legacy"
    ddl = AgentDDL.from_dict(json.loads((pkg / "legacy.json").read_text()))
    assert list(ddl.actions) == ["a", "b"] and ddl.metadata.license == "Apache-2.0"
    assert "@action" not in (pkg / "agent.py").read_text()


def test_generate_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    plugin("generate", "agent", "once", "-d", str(tmp_path))
    with pytest.raises(MCollectiveError, match="already exists"):
        plugin("generate", "agent", "once", "-d", str(tmp_path))
    assert plugin("generate", "agent", "once", "-d", str(tmp_path), "--force").code == 0
    for argv, message in [(("Bad-Name",), "invalid agent name"),
                          (("ok", "--actions", "x,class"), "Python keyword"),
                          (("ok", "--actions", "a,a"), "listed twice"),
                          (("ok", "--description", 'say "hi"'), "quotes"),
                          (("ok", "oops"), "expected actions=a,b")]:
        with pytest.raises(MCollectiveError, match=message):
            plugin("generate", "agent", *argv, "-d", str(tmp_path))


def test_json_ddl_is_valid_for_every_action() -> None:
    text = json_ddl(AgentScaffold("x", actions=["a", "b_c"], timeout=7))
    ddl = AgentDDL.from_dict(json.loads(text))
    assert ddl.metadata.timeout == 7 and list(ddl.actions) == ["a", "b_c"]


def test_plain_text_strips_rest_markup() -> None:
    from mcollective.cli.apps.plugin import plain_text

    assert plain_text("Reads ``-S \"x\"`` (see :mod:`.nodelist`, :class:`~a.b.Node`, "
                      ":ref:`the docs <filters>` and `Choria`_). Example::") == (
        "Reads -S \"x\" (see nodelist, Node, the docs and Choria). Example:")
