"""Our DDL is a drop-in for Choria's: same actions, same inputs (type, validation,
optionality, defaults, limits) and same outputs, so existing scripts keep working."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mcollective.ddl import AgentDDL
from mcollective.testing.agents import choria_differences, shipped_ddl
from mcollective_agent_process import Process


def test_the_agent_loads_its_ddl() -> None:
    ddl = Process.load_ddl()
    assert isinstance(ddl, AgentDDL)
    assert ddl.name == "process"
    assert set(ddl.actions) == {"list"}


def test_same_actions_inputs_and_outputs_as_choria(choria_corpus: Path) -> None:
    theirs = json.loads((choria_corpus / "process.json").read_text(encoding="utf-8"))
    # One deliberate difference: Choria validates ``pattern`` as shellsafe, which refuses
    # regex characters (``|``, ``$``) although the value never reaches a shell. We check
    # that it is a regex RE2 can run (Choria's Go regexp is RE2 too): every pattern a
    # Choria script sends is still accepted.
    assert choria_differences(shipped_ddl(Process), theirs) == [
        "list.pattern.validation: 'pattern' != 'shellsafe'"]


def test_valid_against_the_choria_schema(choria_corpus: Path) -> None:
    schema = json.loads((choria_corpus / "schema" / "agent.json").read_text(encoding="utf-8"))
    jsonschema.validate(shipped_ddl(Process), schema)
