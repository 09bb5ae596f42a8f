"""An external agent written in shell, served by real ``mcollectived`` processes and
called with the real ``mco`` (which finds its DDL in the same directory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fleet import ok

from mcollective.testing import LocalCollective

DDL = {
    "$schema": "https://choria.io/schemas/mcorpc/ddl/v1/agent.json",
    "metadata": {"name": "uptime", "description": "Uptime, in shell", "author": "tests",
                 "license": "Apache-2.0", "version": "1.0.0",
                 "url": "https://example.net", "timeout": 5, "provider": "external"},
    "actions": [{
        "action": "report", "description": "How long the node has been up",
        "display": "always",
        "input": {"unit": {"prompt": "Unit", "description": "seconds or minutes",
                           "type": "list", "list": ["seconds", "minutes"],
                           "optional": True, "default": "seconds"}},
        "output": {"uptime": {"description": "uptime", "display_as": "Uptime"},
                   "unit": {"description": "the unit", "display_as": "Unit"}},
        "aggregate": [{"function": "summary", "args": ["unit"]}],
    }],
}

#: POSIX shell only: sed to read the request, printf to write the reply.
SCRIPT = r"""#!/bin/sh
request="$1"; reply="$2"; protocol="$3"
case "$protocol" in
  *activation_request) printf '{"activate": true}' > "$reply"; exit 0 ;;
esac
unit=$(sed -n 's/.*"unit": *"\([a-z]*\)".*/\1/p' "$request")
seconds=$(cut -d. -f1 /proc/uptime)
[ "$unit" = minutes ] && value=$((seconds / 60)) || value=$seconds
printf '{"statuscode": 0, "statusmsg": "OK", "data": {"uptime": %s, "unit": "%s"}}' \
  "$value" "$unit" > "$reply"
"""


@pytest.fixture(scope="module")
def collective(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("external")
    agents = root / "agents"
    agents.mkdir()
    (agents / "uptime.json").write_text(json.dumps(DDL))
    script = agents / "uptime"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    with LocalCollective(root / "collective",
                         extra_config={"plugin.external.agents_dir": str(agents)}) as lc:
        lc.add_node("node1.example.net")
        lc.add_node("node2.example.net")
        yield lc


@pytest.mark.skipif(not Path("/proc/uptime").exists(), reason="needs /proc/uptime")
def test_shell_agent_answers_through_the_daemons(collective: LocalCollective) -> None:
    proc = ok(collective.mco("rpc", "uptime", "report", "unit=minutes"))
    assert proc.stdout.count("Unit: minutes") == 2  # labels from the DDL on the client
    assert "Summary of Unit:\n\n   minutes = 2" in proc.stdout
    assert "Finished processing 2 / 2 hosts" in proc.stdout
    doc = json.loads(ok(collective.mco("rpc", "uptime", "report",
                                       "--json-format", "mcollective")).stdout)
    assert {r["data"]["unit"] for r in doc} == {"seconds"}  # the DDL default, filled in
    assert all(isinstance(r["data"]["uptime"], int) for r in doc)


def test_bad_input_is_refused_naming_it(collective: LocalCollective) -> None:
    proc = collective.mco("rpc", "uptime", "report", "unit=hours")
    assert proc.returncode == 1 and "unit" in proc.stderr


def test_the_agent_is_listed_and_documented(collective: LocalCollective) -> None:
    doc = ok(collective.mco("plugin", "doc", "uptime")).stdout
    assert "Uptime, in shell" in doc and "Provider: external" in doc
    agents = json.loads(ok(collective.mco("rpc", "rpcutil", "inventory",
                                          "--json-format", "mcollective",
                                          "-I", "node1.example.net")).stdout)
    assert "uptime" in agents[0]["data"]["agents"]
