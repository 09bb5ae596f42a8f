"""What users bring from MCollective and Choria, run through real ``mcollectived``
processes and the real ``mco``: agent DDLs go-choria loads but Choria's schema refuses,
classic config files with YAML headers and keys for other plugin versions, bad numbers
and log directories, Choria inventory files, and action policies with regex callers.

The fixtures are small files shaped like the public artefacts (go-choria agent DDLs,
Choria inventory files, actionpolicy files, classic ``server.cfg``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fleet import ok

from mcollective.testing import LocalCollective
from mcollective.testing.collective import _script

#: Loaded and served by go-choria (which only decodes the JSON), refused by Choria's JSON
#: schema: an upper-case input, a one-letter input without 'optional' or 'prompt', a
#: string input without 'validation'/'maxlength', an output without 'display_as', no
#: 'author'/'url' in the metadata.
LEGACY_DDL = {
    "$schema": "https://choria.io/schemas/mcorpc/ddl/v1/agent.json",
    "metadata": {"name": "legacy", "description": "Hand-written for go-choria",
                 "license": "Apache-2.0", "version": "1.0.0", "timeout": 10,
                 "provider": "external"},
    "actions": [{
        "action": "lookup", "description": "Echo what was asked", "display": "always",
        "input": {
            "Host": {"prompt": "Host", "description": "host to look up", "type": "string",
                     "validation": "^[\\w.-]+$", "maxlength": 64, "optional": False},
            "n": {"description": "how many", "type": "integer", "optional": True},
            "note": {"prompt": "Note", "description": "free text", "type": "string",
                     "optional": True},
        },
        "output": {"Address": {"description": "the answer"}},
    }],
}

LEGACY_AGENT = f"""#!{sys.executable}
import json, sys
request = json.load(open(sys.argv[1]))
if request["protocol"].endswith("activation_request"):
    json.dump({{"activate": True}}, open(sys.argv[2], "w"))
    sys.exit(0)
data = request["data"]
json.dump({{"statuscode": 0, "statusmsg": "OK",
           "data": {{"Address": "%s x%s" % (data["Host"], data.get("n", 1))}}}},
          open(sys.argv[2], "w"))
"""


def replies(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """``-j`` replies, whether printed as a bare array or under ``replies``."""
    document = json.loads(proc.stdout)
    return document["replies"] if isinstance(document, dict) else document


@pytest.fixture(scope="module")
def collective(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("compat")
    agents = root / "agents"
    agents.mkdir()
    (agents / "legacy.json").write_text(json.dumps(LEGACY_DDL))
    script = agents / "legacy"
    script.write_text(LEGACY_AGENT)
    script.chmod(0o755)
    with LocalCollective(root / "collective",
                         extra_config={"plugin.external.agents_dir": str(agents)}) as lc:
        # A classic server.cfg that was templated from YAML: a '---' header, and a key
        # meant for another version of the yaml facts plugin.
        node = lc.add_node("node1.example.net", facts={"country": "uk"}, start=False)
        node.config.write_text("---\n" + node.config.read_text()
                               + "plugin.yaml.refresh_interval = 60\n")
        lc.start(node)
        lc.add_node("node2.example.net", facts={"role": "db"})
        yield lc


# --- agent DDLs ---------------------------------------------------------------------------


def test_a_ddl_go_choria_loads_is_served_and_called(collective: LocalCollective) -> None:
    proc = ok(collective.mco("rpc", "legacy", "lookup", "Host=db1.example.net", "n=2"))
    assert proc.stdout.count("Address: db1.example.net x2") == 2  # label falls back
    # One warning naming what Choria's schema would refuse, then the run goes on.
    assert "Choria's DDL schema would refuse it" in proc.stderr
    assert "input 'Host': name 'Host' is not lower-case" in proc.stderr
    [first, _] = replies(ok(collective.mco("rpc", "legacy", "lookup",
                                                "Host=a.example.net", "-j")))
    assert first["data"]["Address"] == "a.example.net x1"
    # 'optional' absent means required, as go-choria's zero value.
    missing = collective.mco("rpc", "legacy", "lookup", "n=2")
    assert missing.returncode == 1 and "input 'Host' is required" in missing.stderr
    doc = ok(collective.mco("plugin", "doc", "legacy")).stdout
    assert "Host" in doc and "Traceback" not in doc


def test_the_real_choria_ddls_load_without_warnings(collective: LocalCollective) -> None:
    proc = ok(collective.mco("plugin", "doc", "package"))  # loads every agent's DDL
    warned = [line for line in proc.stderr.splitlines() if "schema would refuse" in line]
    assert len(warned) == 1 and "legacy.json" in warned[0]


# --- classic configuration files ----------------------------------------------------------


def test_yaml_header_and_unknown_plugin_key_warn_and_the_node_serves(
        collective: LocalCollective) -> None:
    node = collective.nodes["node1.example.net"]
    log = node.log()
    assert "ignoring line without '='" in log and "'---'" in log
    assert "ignoring unknown key 'plugin.yaml.refresh_interval' for plugin 'yaml'" in log
    # The facts plugin the unknown key was for still loaded: the fact is there.
    found = ok(collective.mco("find", "-F", "country=uk"))
    assert found.stdout.split() == ["node1.example.net"]


def test_nan_and_inf_are_refused_naming_the_key(collective: LocalCollective) -> None:
    for value in ("nan", "inf"):
        config = collective.write_client_config(f"bad-{value}.cfg", publish_timeout=value)
        proc = collective.mco("ping", config=config)
        assert proc.returncode == 1
        assert f"key 'publish_timeout': expected a finite number, got '{value}'" in \
            proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_missing_log_directory_is_one_line_naming_logfile(tmp_path: Path,
                                                           collective: LocalCollective
                                                           ) -> None:
    settings = collective.base_settings("nolog.example.net")
    settings.update({"logger_type": "file", "factsource": "yaml",
                     "logfile": str(tmp_path / "missing" / "mcollectived.log")})
    config = tmp_path / "server.cfg"
    config.write_text(collective.render(settings))
    proc = subprocess.run([*_script("mcollectived"), "-c", str(config), "--pidfile",
                           str(tmp_path / "pid")], env=collective.env(), capture_output=True,
                          text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"mcollectived: {config}:")
    assert "key 'logfile': cannot open log file" in lines[0]
    assert "does not exist" in lines[0]


def test_a_client_log_file_that_cannot_be_opened_is_one_line(
        collective: LocalCollective, tmp_path: Path) -> None:
    config = collective.write_client_config(
        "nolog.cfg", logger_type="file", logfile=str(tmp_path / "missing" / "mco.log"))
    proc = collective.mco("ping", config=config)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"mco ping: {config}:{_line_of(config, 'logfile')}: key 'logfile': cannot open log "
        f"file {tmp_path / 'missing' / 'mco.log'}: directory {tmp_path / 'missing'} does "
        "not exist"]


def _line_of(config: Path, key: str) -> int:
    lines = config.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"{key} ="))


def test_choria_with_in_compound_filters(collective: LocalCollective) -> None:
    # Nodes receive the plain fact test, so any node answers it.
    found = ok(collective.mco("find", "-S", "with('country=uk') or with('role=web')"))
    assert found.stdout.split() == ["node1.example.net"]


# --- Choria inventory files -------------------------------------------------------------


def test_choria_inventory_groups(collective: LocalCollective, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "$schema: https://choria.io/schemas/choria/discovery/v1/inventory_file.json\n"
        "groups:\n"
        "  - name: all\n"
        "  - name: uk\n"
        "    filter:\n"
        "      compound: \"with('country=uk') and not with('role=db')\"\n"
        "nodes:\n"
        "  - name: node1.example.net\n"
        "    facts: {country: uk}\n"
        "    agents:\n"
        "      - {name: rpcutil, version: 1.0.0}\n"
        "  - name: node2.example.net\n"
        "    facts: {role: db}\n")
    everyone = ok(collective.mco("rpc", "rpcutil", "ping", "--dm", "inventory", "--do",
                                 str(inventory), "-I", "group:all", "-j"))
    assert sorted(r["sender"] for r in replies(everyone)) == ["node1.example.net",
                                                             "node2.example.net"]
    uk = ok(collective.mco("rpc", "rpcutil", "ping", "--dm", "inventory", "--do",
                           str(inventory), "-I", "group:uk", "-j"))
    assert [r["sender"] for r in replies(uk)] == ["node1.example.net"]
    inventory.write_text(inventory.read_text().replace(
        "not with('role=db')", "include(agents, 'rpcutil')"))
    refused = collective.mco("rpc", "rpcutil", "ping", "--dm", "inventory", "--do",
                             str(inventory), "-I", "group:uk")
    assert refused.returncode == 1
    assert "groups[1].filter" in refused.stderr and "Choria's expression language" in \
        refused.stderr
    assert "Traceback" not in refused.stderr


# --- action policies -------------------------------------------------------------------


def test_regex_callers_and_broken_lines_through_a_daemon(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "groups").write_text("ops /^user=/ alice\n")
    (policies / "rpcutil.policy").write_text(
        "policy default deny\n"
        "allow\tops\tping\t*\t*\n"
        "allow\t/^user=.+$/\tdaemon_stats\t*\t*\n")
    # A rule written with spaces instead of TABs: not understood.
    (policies / "nettest.policy").write_text("policy default allow\nallow * * * *\n")
    with LocalCollective(tmp_path / "collective") as lc:
        lc.add_node("guarded.example.net", settings={
            "rpcauthorization": 1, "rpcauthprovider": "actionpolicy",
            "plugin.actionpolicy.policy_dir": str(policies)})
        ok(lc.mco("rpc", "rpcutil", "ping", "-I", "guarded.example.net"))
        ok(lc.mco("rpc", "rpcutil", "daemon_stats", "-I", "guarded.example.net"))
        denied = lc.mco("rpc", "rpcutil", "inventory", "-I", "guarded.example.net")
        assert "You are not authorized" in denied.stdout + denied.stderr
        broken = lc.mco("rpc", "nettest", "ping", "fqdn=localhost", "-I",
                        "guarded.example.net")
        said = broken.stdout + broken.stderr
        assert broken.returncode != 0
        assert "nettest.policy:2 on this node cannot be parsed" in said, said
        node_log = lc.nodes["guarded.example.net"].log()
        assert f"{policies}/groups:1: group 'ops': member 'alice' is not a caller id" in \
            node_log
        assert f"{policies / 'nettest.policy'}:2:" in node_log
