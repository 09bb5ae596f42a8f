"""Loading, checking, writing and rendering agent DDLs, against the real Choria corpus."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from mcollective.ddl import (
    KNOWN_SCHEMAS,
    SCHEMA_URL,
    ActionDDL,
    AgentDDL,
    DDLFormatError,
    InputItem,
    OutputItem,
    action_ddl,
    aggregate_spec,
    input_item,
    load_agent_ddl,
    output_item,
    render_help,
)
from mcollective.errors import DDLError, DDLValidationError, UnknownRPCAction
from mcollective.testing import choria_corpus_path

# The compatibility corpus, vendored byte for byte (see its README for provenance).
CORPUS = choria_corpus_path()

#: action count and total input count per agent, read off the files by hand.
EXPECTED = {
    "package": (14, 8),
    "service": (4, 4),
    "puppet": (6, 14),
    "filemgr": (3, 4),
    "shell": (6, 10),
    "nrpe": (2, 2),
    "process": (1, 3),
    "nettest": (2, 3),
    "iptables": (4, 3),
    "rpcutil": (9, 5),
}


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []


def raw(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / f"{name}.json").read_text())


def normalised(doc: dict[str, Any]) -> dict[str, Any]:
    """What to_dict writes for a real file: ``display`` spelt out, outputs always carry a
    ``default``. Everything else must come back byte-for-byte equal."""
    doc = copy.deepcopy(doc)
    for action in doc["actions"]:
        action.setdefault("display", "failed")
        for out in action["output"].values():
            out.setdefault("default", None)
    return doc


@pytest.fixture(scope="module")
def agent_schema() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((CORPUS / "schema" / "agent.json").read_text())
    return jsonschema.Draft7Validator(schema)


# --- the corpus -----------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    assert {p.stem for p in corpus_files()} == set(EXPECTED)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_every_real_ddl_loads_unchanged(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mcollective.ddl")
    ddl = load_agent_ddl(path)
    doc = json.loads(path.read_text())
    n_actions, n_inputs = EXPECTED[path.stem]
    assert ddl.name == path.stem == doc["metadata"]["name"]
    assert ddl.source == path
    assert ddl.schema in KNOWN_SCHEMAS
    assert len(ddl.actions) == n_actions
    assert sum(len(a.inputs) for a in ddl.actions.values()) == n_inputs
    # Order and contents as in the file.
    assert list(ddl.actions) == [a["action"] for a in doc["actions"]]
    for spec in doc["actions"]:
        action = ddl.action(spec["action"])
        assert list(action.inputs) == list(spec["input"])
        assert list(action.outputs) == list(spec["output"])
        assert len(action.aggregates) == len(spec.get("aggregate", []))
        assert action.agent == ddl.name
    assert ddl.metadata.timeout == doc["metadata"]["timeout"]
    assert not caplog.records, "real DDLs load without warnings"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_round_trip_is_valid_choria_json(path: Path, agent_schema: Any) -> None:
    ddl = load_agent_ddl(path)
    out = ddl.to_dict()
    errors = sorted(agent_schema.iter_errors(out), key=str)
    assert not errors, errors[0].message if errors else ""
    assert out == normalised(json.loads(path.read_text()))
    # And it reads back into an equal object.
    again = AgentDDL.from_dict(json.loads(ddl.to_json()))
    assert again.metadata == ddl.metadata
    assert again.actions == ddl.actions


def test_quirks_of_real_files_are_kept() -> None:
    puppet = load_agent_ddl(CORPUS / "puppet.json")
    # type/default mismatch stays as written
    since = puppet.action("status").outputs["since_lastrun"]
    assert (since.type, since.default) == ("integer", "Unknown")
    # typed outputs, array and hash defaults
    summary = puppet.action("last_run_summary")
    assert summary.outputs["logs"].default == []
    assert summary.outputs["type_distribution"].type == "hash"
    # aggregates with options
    aggs = summary.aggregates
    assert (aggs[0].function, aggs[0].output, aggs[0].options) == (
        "average", "config_retrieval_time", {"format": "Average: %0.2f"})
    assert puppet.action("disable").aggregates[0].options == {"true": "enabled",
                                                              "false": "disabled"}
    # untyped outputs in files converted from Ruby
    pkg = load_agent_ddl(CORPUS / "package.json")
    assert pkg.action("install").outputs["ensure"].type is None
    # Ruby-only aggregate functions are kept; nobody can know here what is installed.
    nrpe = load_agent_ddl(CORPUS / "nrpe.json")
    assert nrpe.action("runcommand").aggregates[0].function == "nagios_states"
    # "default": null with "optional": false is simply a required input
    assert pkg.action("install").inputs["package"].optional is False
    # an output without a default at all (rpcutil inventory "machines")
    rpcutil = load_agent_ddl(CORPUS / "rpcutil.json")
    assert rpcutil.action("inventory").outputs["machines"].default is None


def test_accepted_variants(caplog: pytest.LogCaptureFixture) -> None:
    doc = raw("shell")
    doc["$schema"] = "https://choria.io/schemas/mcorpc/agent:1.json"
    doc["actions"][3]["input"]["handles"]["type"] = "Array"
    doc["actions"][0]["input"]["handle"]["maxlength"] = 0
    del doc["actions"][0]["display"]
    doc["actions"][2]["aggregate"] = [{"function": "summary", "args": ["exitcode"]}] * 2
    caplog.set_level(logging.WARNING, logger="mcollective.ddl")
    ddl = AgentDDL.from_dict(doc)
    assert ddl.schema == "https://choria.io/schemas/mcorpc/agent:1.json"
    assert ddl.action("statuses").inputs["handles"].type == "array"
    assert ddl.action("kill").inputs["handle"].maxlength == 0
    assert ddl.action("kill").display == "failed"
    assert len(ddl.action("run").aggregates) == 2  # duplicates kept, as Choria does
    assert not caplog.records

    doc = raw("puppet")
    doc["actions"][3]["input"]["name"]["type"] = "Hash"
    doc["actions"][3]["input"]["name"].pop("validation")
    doc["actions"][3]["input"]["name"].pop("maxlength")
    assert AgentDDL.from_dict(doc).action("resource").inputs["name"].type == "hash"

    del doc["$schema"]
    assert AgentDDL.from_dict(doc).schema == SCHEMA_URL


def test_doubtful_things_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    doc = raw("package")
    doc["$schema"] = "https://example.com/other.json"
    doc["actions"][4]["input"]["package"]["optinal"] = True
    doc["actions"][4]["aggregate"].append({"function": "summary", "args": ["nonesuch"]})
    doc["actions"][13]["input"]["mode"]["default"] = "everything"
    caplog.set_level(logging.WARNING, logger="mcollective.ddl")
    AgentDDL.from_dict(doc, source="package.json")
    text = caplog.text
    assert "unknown $schema" in text
    assert "actions[4] 'install' input 'package': ignoring unknown key(s) 'optinal'" in text
    assert "summarises 'nonesuch'" in text
    assert "input 'mode': default 'everything' does not fit" in text


# --- malformed DDLs -------------------------------------------------------------------------


def _write(tmp_path: Path, doc: Any, name: str = "package.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["metadata"].__setitem__("timeout", 0),
         "metadata: 'timeout' must be at least 1 second"),
        (lambda d: d["metadata"].__setitem__("timeout", "180"),
         "metadata: 'timeout' must be a whole number of seconds"),
        (lambda d: d["metadata"].__setitem__("name", "Package"),
         "metadata: 'name' 'Package' is not a valid agent name"),
        (lambda d: d["actions"][4]["input"]["package"].__setitem__("maxlength", "90"),
         "actions[4] 'install' input 'package': 'maxlength' must be a number"),
        (lambda d: d["actions"][4]["input"]["package"].__setitem__("maxlength", -1),
         "actions[4] 'install' input 'package': 'maxlength' must be a whole number of 0 or "
         "more"),
        (lambda d: d["actions"][4]["input"]["package"].__setitem__("type", "strng"),
         "actions[4] 'install' input 'package': 'type' must be one of string, list, boolean"),
        (lambda d: d["actions"][4]["input"]["package"].__setitem__("optional", "no"),
         "actions[4] 'install' input 'package': 'optional' must be true or false"),
        (lambda d: d["actions"][4]["input"]["package"].__setitem__("validation", "^[a-z"),
         "actions[4] 'install' input 'package': 'validation' is not a valid regular "
         "expression"),
        (lambda d: d["actions"][13]["input"]["mode"].pop("list"),
         "actions[13] 'yum_clean' input 'mode': 'list' is required for list inputs"),
        (lambda d: d["actions"][4].__setitem__("display", "sometimes"),
         "actions[4] 'install': 'display' must be one of ok, failed, always"),
        (lambda d: d["actions"][4]["aggregate"][0].__setitem__("args", []),
         "actions[4] 'install' aggregate[0]: 'args' must be a list starting with the name"),
        (lambda d: d["actions"][4]["input"].__setitem__("Bad Name", {"type": "integer"}),
         "actions[4] 'install' input 'Bad Name': 'Bad Name' is not a valid input name"),
        (lambda d: d["actions"][4]["input"]["package"].pop("type"),
         "actions[4] 'install' input 'package': 'type' is required"),
        (lambda d: d["actions"][3].__setitem__("action", "install"),
         "actions[4] 'install': 'action' repeats action 'install' already declared at "
         "actions[3]"),
        (lambda d: d.__setitem__("actions", {}), "'actions' must be a list"),
        (lambda d: d.pop("metadata"), "'metadata' is required"),
    ],
)
def test_malformed_ddl_names_file_and_field(tmp_path: Path, change: Any, expected: str) -> None:
    doc = raw("package")
    change(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(DDLError) as info:
        load_agent_ddl(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)
    assert isinstance(info.value, DDLFormatError)
    assert info.value.source == str(path)


def test_every_problem_is_reported(tmp_path: Path) -> None:
    doc = raw("package")
    doc["metadata"]["timeout"] = 0
    doc["actions"][4]["input"]["package"]["maxlength"] = "x"
    with pytest.raises(DDLFormatError) as info:
        load_agent_ddl(_write(tmp_path, doc))
    assert len(info.value.problems) == 2


def test_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"metadata": {', "broken.json")
    with pytest.raises(DDLError, match=r"broken\.json: not valid JSON: .* at line 1 column"):
        load_agent_ddl(path)


def test_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(DDLError, match=r"list\.json: must be a JSON object, got list"):
        load_agent_ddl(_write(tmp_path, "[]", "list.json"))


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DDLError, match=r"missing\.json: cannot read"):
        load_agent_ddl(tmp_path / "missing.json")


def test_from_dict_without_source_names_the_agent() -> None:
    doc = raw("service")
    doc["metadata"]["timeout"] = 0
    with pytest.raises(DDLError, match=r"^DDL of agent 'service': metadata: 'timeout'"):
        AgentDDL.from_dict(doc)


# --- actions --------------------------------------------------------------------------------


def test_unknown_action() -> None:
    ddl = load_agent_ddl(CORPUS / "package.json")
    with pytest.raises(UnknownRPCAction) as info:
        ddl.action("instal")
    assert str(info.value).startswith(
        "Attempted to call action instal for agent package but it's not declared in the DDL")
    assert "did you mean 'install'" in str(info.value)
    assert info.value.statuscode == 2


def test_output_defaults() -> None:
    puppet = load_agent_ddl(CORPUS / "puppet.json")
    status = puppet.action("status")
    defaults = status.output_defaults()
    assert list(defaults) == list(status.outputs)
    assert defaults["since_lastrun"] == "Unknown"
    assert defaults["enabled"] is None
    summary = puppet.action("last_run_summary")
    first, second = summary.output_defaults(), summary.output_defaults()
    first["logs"].append("changed")
    assert second["logs"] == [] and summary.outputs["logs"].default == []

    reply: dict[str, Any] = {"applying": True, "status": None, "extra": 1}
    assert status.merge_output_defaults(reply) is reply
    assert reply["applying"] is True
    assert reply["status"] is None  # present keys are left alone, even null
    assert reply["extra"] == 1
    assert reply["message"] == "unknown" and reply["lastrun"] == 0
    assert set(reply) == set(status.outputs) | {"extra"}

    # an action with no outputs
    assert load_agent_ddl(CORPUS / "shell.json").action("kill").output_defaults() == {}


def test_mutable_output_defaults_are_not_shared() -> None:
    iptables = load_agent_ddl(CORPUS / "iptables.json").action("listblocked")
    a = iptables.merge_output_defaults({})
    b = iptables.merge_output_defaults({})
    a["blocked"].append("10.0.0.1")
    assert b["blocked"] == []


# --- writing DDLs in Python -----------------------------------------------------------------


def _python_package() -> AgentDDL:
    return AgentDDL.build(
        name="package", description="Manage Operating System Packages",
        author="R.I.Pienaar <rip@devco.net>", license="Apache-2.0", version="5.4.1",
        url="https://github.com/choria-plugins/package-agent", timeout=180,
        actions=[
            action_ddl(
                "install", "Install a package",
                inputs=[
                    input_item("package", prompt="Package Name",
                               description="Package to install", validation="shellsafe",
                               maxlength=90),
                    input_item("version", prompt="Package version",
                               description="Version of package to install", optional=True,
                               validation="shellsafe", maxlength=90),
                ],
                outputs=[output_item("ensure", description="Full package version",
                                     display_as="Ensure")],
                aggregates=[aggregate_spec("summary", "ensure")],
            ),
            action_ddl(
                "yum_clean", "Clean the YUM cache",
                inputs=[input_item("mode", description="One of the clean modes",
                                   optional=True, list=["all", "headers"])],
                outputs=[output_item("exit_code", description="The exitcode", default=0,
                                     type="integer")],
                display="always",
            ),
        ],
    )


def test_build_in_python(agent_schema: Any) -> None:
    ddl = _python_package()
    doc = ddl.to_dict()
    assert not list(agent_schema.iter_errors(doc))
    assert ddl.source is None
    install = ddl.action("install")
    assert install.agent == "package"
    assert install.inputs["package"] == InputItem(
        name="package", prompt="Package Name", description="Package to install",
        type="string", optional=False, validation="shellsafe", maxlength=90)
    assert doc["actions"][0]["input"]["package"] == {
        "prompt": "Package Name", "description": "Package to install", "type": "string",
        "default": None, "optional": False, "validation": "shellsafe", "maxlength": 90}
    mode = ddl.action("yum_clean").inputs["mode"]
    assert (mode.type, mode.prompt, mode.list) == ("list", "Mode", ["all", "headers"])
    out = ddl.action("yum_clean").outputs["exit_code"]
    assert out == OutputItem("exit_code", "The exitcode", "Exit Code", 0, "integer")
    assert ddl.action("yum_clean").display == "always"
    assert ddl.action("install").display == "failed"
    # The JSON written is the JSON read.
    assert AgentDDL.from_dict(json.loads(ddl.to_json())) == ddl


def test_build_checks_like_a_file() -> None:
    with pytest.raises(DDLError, match=r"DDL of agent 'x': metadata: 'timeout' must be at "
                                       r"least 1 second"):
        AgentDDL.build(name="x", description="d", author="a", license="l", version="1.0.0",
                       url="u", timeout=0, actions=[])
    act = action_ddl("a", "an action")
    with pytest.raises(DDLError, match="action 'a' is declared twice"):
        AgentDDL.build(name="x", description="d", author="a", license="l", version="1.0.0",
                       url="u", timeout=5, actions=[act, act])
    with pytest.raises(DDLError, match="input 'i': type must be one of"):
        input_item("i", description="d", type="strng")
    with pytest.raises(DDLError, match="'list' of choices"):
        input_item("i", description="d", type="list")
    bad_display: Any = "all"
    with pytest.raises(DDLError, match="display must be one of"):
        ActionDDL(name="a", description="d", display=bad_display)
    with pytest.raises(DDLError, match="input 'i' is declared twice"):
        action_ddl("a", "d", inputs=[input_item("i", description="d")] * 2)


def test_string_input_defaults_to_accepting_anything() -> None:
    item = input_item("message", description="Why")
    assert (item.type, item.validation, item.maxlength) == ("string", ".*", 0)
    act = action_ddl("a", "d", inputs=[item])
    assert act.validate({"message": "x" * 100_000}) == {"message": "x" * 100_000}


# --- help -------------------------------------------------------------------------------------


def test_render_help() -> None:
    ddl = load_agent_ddl(CORPUS / "package.json")
    text = render_help(ddl)
    lines = text.splitlines()
    assert lines[:3] == ["package", "=======", ""]
    assert "      Author: R.I.Pienaar <rip@devco.net>" in lines
    assert "     Timeout: 180" in lines
    assert "   " + ", ".join(sorted(ddl.actions)) in lines
    assert "   install action:" in lines
    assert "              Description: Package to install" in lines
    assert "               Validation: shellsafe" in lines
    assert "                   Length: 90" in lines
    assert "             Valid Values: all, headers, packages, metadata, dbcache, plugins, " \
        "expire-cache" in lines
    assert "           This action does not have any inputs" in lines
    assert "           summary(ensure)" in lines
    assert all(line == line.rstrip() for line in lines)
    # actions in name order, as mco plugin doc lists them
    positions = [text.index(f"   {name} action:") for name in sorted(ddl.actions)]
    assert positions == sorted(positions)

    one = render_help(ddl, "install")
    assert one.startswith("package#install\n")
    assert "yum_clean action" not in one
    with pytest.raises(UnknownRPCAction):
        render_help(ddl, "nonesuch")

    puppet = render_help(load_agent_ddl(CORPUS / "puppet.json"), "last_run_summary")
    assert "            Default Value: false" in puppet.splitlines()
    assert '           average(total_time, {"format": "Average: %0.2f"})' in puppet


# --- as lenient as go-choria ------------------------------------------------------------


def go_choria_shaped() -> dict[str, Any]:
    """A DDL go-choria loads and serves (it only decodes the JSON into structs) but
    Choria's JSON schema refuses: upper-case and one-letter input names, inputs without
    'optional', a string input without 'validation'/'maxlength', an output without
    'display_as', metadata without 'author'/'url', an action without 'description'."""
    return {
        "$schema": "https://choria.io/schemas/mcorpc/ddl/v1/agent.json",
        "metadata": {"name": "legacy", "description": "Converted by hand", "license": "MIT",
                     "version": "0.1.0", "timeout": 10},
        "actions": [{
            "action": "lookup", "display": "All",
            "input": {
                "Host": {"prompt": "Host", "description": "host to look up",
                         "type": "string", "validation": "^[\\w.-]+$", "maxlength": 64},
                "n": {"description": "how many", "type": "integer", "optional": True},
                "note": {"prompt": "Note", "description": "free text", "type": "string",
                         "optional": True},
            },
            "output": {"Address": {"description": "the address"}},
        }],
    }


def test_go_choria_shaped_ddl_loads_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, go_choria_shaped(), "legacy.json")
    with caplog.at_level(logging.WARNING, logger="mcollective.ddl"):
        ddl = load_agent_ddl(path)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    text = warnings[0]
    assert text.startswith(f"{path}: loaded as go-choria loads it, but Choria's DDL schema "
                           "would refuse it: metadata: no 'author', 'url'; ")
    assert "actions[0] 'lookup': no 'description'" in text
    assert "input 'Host': name 'Host' is not lower-case" in text
    assert "(and 4 more)" in text  # display, n, note, Address (name and display_as)
    action = ddl.action("lookup")
    assert action.display == "always"  # Choria's "all", in any case
    # go-choria's zero values: 'optional' absent is required, a string without
    # validation accepts anything, maxlength absent is unlimited, labels fall back.
    assert action.inputs["Host"].optional is False
    assert action.inputs["n"].prompt == "n" and action.inputs["n"].optional is True
    assert action.inputs["note"].validation == ".*" and action.inputs["note"].maxlength == 0
    assert action.outputs["Address"].display_as == "Address"
    assert action.validate({"Host": "db1.example.net", "note": "x; y" * 100}) == {
        "Host": "db1.example.net", "note": "x; y" * 100}
    with pytest.raises(DDLValidationError, match="input 'Host' is required"):
        action.validate({"n": 2})
    assert action.coerce({"Host": "a", "n": "3"}) == {"Host": "a", "n": 3}


def test_real_choria_ddls_need_no_leniency(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mcollective.ddl"):
        for path in sorted(CORPUS.glob("*.json")):
            load_agent_ddl(path)
    assert "schema would refuse" not in caplog.text
