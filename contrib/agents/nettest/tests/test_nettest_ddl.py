"""Our DDL is a drop-in for Choria's: same actions, same inputs (type, validation,
optionality, defaults, limits) and same outputs, so existing scripts keep working."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mcollective.ddl import AgentDDL
from mcollective.testing.agents import choria_differences, shipped_ddl
from mcollective_agent_nettest import Nettest


def test_the_agent_loads_its_ddl() -> None:
    ddl = Nettest.load_ddl()
    assert isinstance(ddl, AgentDDL)
    assert ddl.name == "nettest"
    assert set(ddl.actions) == {"ping", "connect"}


def test_same_actions_inputs_and_outputs_as_choria(choria_corpus: Path) -> None:
    theirs = json.loads((choria_corpus / "nettest.json").read_text(encoding="utf-8"))
    assert choria_differences(shipped_ddl(Nettest), theirs) == []


def test_valid_against_the_choria_schema(choria_corpus: Path) -> None:
    schema = json.loads((choria_corpus / "schema" / "agent.json").read_text(encoding="utf-8"))
    jsonschema.validate(shipped_ddl(Nettest), schema)
