"""The agent-author test helpers in mcollective.testing.agents."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mcollective.agents.rpcutil import Rpcutil
from mcollective.errors import DDLValidationError
from mcollective.testing.agents import build_agent, choria_differences, run_action, shipped_ddl


def test_run_action_validates_like_the_daemon(tmp_path: Path) -> None:
    agent = build_agent(Rpcutil, tmp_path)
    assert run_action(agent, "ping").statuscode == 0
    assert run_action(agent, "get_config_item", item="identity").data["value"] == "n1"
    with pytest.raises(DDLValidationError, match="fact"):
        run_action(agent, "get_fact", fact="not a fact")


def test_choria_differences_names_each_break(choria_corpus: Path) -> None:
    theirs = json.loads((choria_corpus / "shell.json").read_text())
    assert choria_differences(theirs, theirs) == []
    ours = copy.deepcopy(theirs)
    run = next(a for a in ours["actions"] if a["action"] == "run")
    run["input"]["command"]["maxlength"] = 1
    del run["output"]["stdout"]
    ours["metadata"]["timeout"] = 1
    problems = choria_differences(ours, theirs)
    assert any("run.command.maxlength" in p for p in problems)
    assert any("run: outputs" in p for p in problems)
    assert any("metadata.timeout" in p for p in problems)


def test_shipped_ddl_reads_the_file_beside_the_module() -> None:
    assert shipped_ddl(Rpcutil)["metadata"]["name"] == "rpcutil"
