"""Our DDL is a drop-in for Choria's: same actions, same inputs (type, validation,
optionality, defaults, limits) and same outputs, so existing scripts keep working."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mcollective.ddl import AgentDDL
from mcollective.testing.agents import choria_differences, shipped_ddl
from mcollective_agent_filemgr import Filemgr


def test_the_agent_loads_its_ddl() -> None:
    ddl = Filemgr.load_ddl()
    assert isinstance(ddl, AgentDDL)
    assert ddl.name == "filemgr"
    assert set(ddl.actions) == {"touch", "remove", "status"}


def test_same_actions_inputs_and_outputs_as_choria(choria_corpus: Path) -> None:
    theirs = json.loads((choria_corpus / "filemgr.json").read_text(encoding="utf-8"))
    assert choria_differences(shipped_ddl(Filemgr), theirs) == []


def test_valid_against_the_choria_schema(choria_corpus: Path) -> None:
    schema = json.loads((choria_corpus / "schema" / "agent.json").read_text(encoding="utf-8"))
    jsonschema.validate(shipped_ddl(Filemgr), schema)
