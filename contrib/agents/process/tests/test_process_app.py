"""``mco process list`` through real daemons and the real ``mco``: a table per node,
``--table`` as one table, ``--fields``, and the summary."""

from __future__ import annotations

import json
import re

from mcollective.testing import LocalCollective


def test_process_list_as_a_veteran_types_it(local_collective: LocalCollective) -> None:
    nodes = {identity: local_collective.add_node(identity) for identity in ("n1", "n2")}
    pids = {identity: int(node.pidfile.read_text()) for identity, node in nodes.items()}
    proc = local_collective.mco("process", "list", "mcollectived")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for identity in nodes:
        assert f"   {identity}" in lines
    headers = [line for line in lines if line.split() == ["PID", "USER", "VSZ", "COMMAND"]]
    assert len(headers) == 2
    for pid in pids.values():
        # Every node lists every daemon of this machine: one row per node for each.
        rows = [line for line in lines if re.match(rf"\s+{pid}\s+\S+\s+[\d.]+ [KMG]?B\s+", line)]
        assert len(rows) == 2, proc.stdout
        assert all("mcollectived" in row for row in rows)
    assert "Matched hosts: 2" in proc.stdout
    assert "Finished processing 2 / 2 hosts" in proc.stdout
    assert "{" not in proc.stdout  # no JSON cells anywhere

    table = local_collective.mco("process", "list", "mcollectived", "--table",
                                 "--fields", "pid,state,command")
    assert table.returncode == 0, table.stderr
    tlines = table.stdout.splitlines()
    assert any(line.split() == ["SENDER", "PID", "STATE", "COMMAND"] for line in tlines)
    for identity in nodes:
        for pid in pids.values():
            assert any(re.match(rf"{identity}\s+{pid}\s+[A-Z?]\s+\S*python", line)
                       for line in tlines), table.stdout
    assert '"pid"' not in table.stdout

    silent = local_collective.mco("process", "list", "mcollectived", "--silent")
    assert "PID" not in silent.stdout and "Matched hosts: 2" in silent.stdout

    replies = json.loads(local_collective.mco("process", "list", "mcollectived", "-I", "n1",
                                              "-j").stdout)["replies"]
    assert [r["sender"] for r in replies] == ["n1"]
    assert pids["n1"] in [entry["pid"] for entry in replies[0]["data"]["pslist"]]


def test_bad_fields_and_actions_are_one_line_errors(local_collective: LocalCollective) -> None:
    local_collective.add_node("n1")
    fields = local_collective.mco("process", "list", "--fields", "pid,colour")
    assert fields.returncode != 0
    assert "COLOUR" in fields.stderr and "valid fields are" in fields.stderr
    assert "Traceback" not in fields.stderr
    action = local_collective.mco("process", "kill", "x")
    assert action.returncode != 0 and "invalid choice" in action.stderr
