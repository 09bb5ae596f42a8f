"""Data plugins: the DDL format, the four built-in plugins, client-side checking of -S
functions, and their use on in-process daemons (filters and rpcutil get_data)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from inprocess import client, collective

from mcollective.agent import AgentContext
from mcollective.client import ClientSession
from mcollective.config import config_from_text
from mcollective.data import (
    DATA_SCHEMA_URL,
    DataDDL,
    DataPlugin,
    DataPluginError,
    check_data_functions,
    data_ddl,
    load_data_ddl,
)
from mcollective.data_plugins import AgentData, CollectiveData, FactData, FstatData
from mcollective.data_plugins import fstat as fstat_module
from mcollective.errors import DDLError, DDLValidationError, FilterSyntaxError
from mcollective.filters import Node, parse_compound
from mcollective.plugins import make_plugin_manager

BUILTIN = (AgentData, CollectiveData, FactData, FstatData)

META = {"name": "demo", "description": "demo plugin", "author": "tests",
        "license": "Apache-2.0", "version": "1.0.0", "url": "https://example.net",
        "timeout": 1}


def doc(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "$schema": DATA_SCHEMA_URL, "metadata": dict(META),
        "query": {"prompt": "Q", "description": "a query", "type": "string",
                  "validation": "^[a-z]+$", "maxlength": 8, "optional": False},
        "output": {"value": {"description": "v", "display_as": "Value", "type": "string"},
                   "size": {"description": "s", "display_as": "Size", "type": "integer"}},
    }
    out.update(overrides)
    return out


def context(facts: Mapping[str, Any] | None = None) -> AgentContext:
    config = config_from_text("identity = n1\ncollectives = mcollective,dev\n")
    return AgentContext(config=config, identity="n1",
                        node=lambda: Node(identity="n1", facts=facts or {},
                                          collectives=["mcollective", "dev"]))


# --- the DDL ------------------------------------------------------------------------------


def test_ddl_round_trip_and_accessors() -> None:
    ddl = DataDDL.from_dict(doc(), source="demo.json")
    assert ddl.name == "demo" and ddl.timeout == 1
    assert ddl.query is not None and ddl.query.maxlength == 8
    assert list(ddl.outputs) == ["value", "size"]
    assert ddl.default_output() == "value"
    again = DataDDL.from_dict(json.loads(json.dumps(ddl.to_dict())))
    assert again.to_dict() == ddl.to_dict()
    assert ddl.to_dict()["$schema"] == DATA_SCHEMA_URL


def test_ddl_reads_the_ruby_input_query_form_and_no_query() -> None:
    legacy = doc(query=None, input={"query": doc()["query"]})
    del legacy["query"]
    assert DataDDL.from_dict(legacy).query is not None
    none = doc()
    del none["query"]
    ddl = DataDDL.from_dict(none)
    assert ddl.query is None
    assert ddl.validate_query(None) is None
    with pytest.raises(DDLValidationError, match="takes no query"):
        ddl.validate_query("x")


@pytest.mark.parametrize(("change", "message"), [
    ({"output": {}}, "at least one output"),
    ({"output": "size"}, "at least one output"),
    ({"query": "x"}, "'query' must be an object"),
    ({"metadata": {**META, "timeout": 0}}, "timeout"),
    ({"metadata": {**META, "name": "Bad Name"}}, "not a valid agent name"),
    ({"query": {"prompt": "Q", "description": "d", "type": "strnig"}}, "type"),
])
def test_ddl_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DDLError, match=message):
        DataDDL.from_dict(doc(**change), source="bad.json")


def test_ddl_problems_do_not_mention_the_internal_action() -> None:
    with pytest.raises(DDLError) as info:
        DataDDL.from_dict(doc(query={"prompt": "Q", "description": "d", "type": "nope"}))
    assert "actions[0]" not in str(info.value)


def test_validate_query() -> None:
    ddl = DataDDL.from_dict(doc())
    assert ddl.validate_query("abc") == "abc"
    with pytest.raises(DDLValidationError, match="data plugin 'demo': invalid query"):
        ddl.validate_query("ABC")
    with pytest.raises(DDLValidationError, match="query"):
        ddl.validate_query("abcdefghijk")  # longer than maxlength
    with pytest.raises(DDLValidationError) as info:
        ddl.validate_query(None)
    assert info.value.missing


def test_load_data_ddl_file(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(doc()))
    assert load_data_ddl(path).name == "demo"
    path.write_text("{nope")
    with pytest.raises(DDLError, match="not valid JSON"):
        load_data_ddl(path)
    with pytest.raises(DDLError, match="cannot read"):
        load_data_ddl(tmp_path / "missing.json")


@pytest.mark.parametrize("cls", BUILTIN)
def test_builtin_ddls_load_and_are_installed(cls: type[DataPlugin]) -> None:
    ddl = cls.load_ddl()
    assert ddl.name == cls.name
    assert ddl.query is not None and not ddl.query.optional
    assert cls.name in make_plugin_manager().known_names("data")


# --- the built-in plugins -----------------------------------------------------------------


def test_fstat_present_file(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello\n")
    out = FstatData().query(str(path))
    ddl_outputs = set(FstatData.load_ddl().outputs)
    assert set(out) == ddl_outputs
    assert out["present"] == 1 and out["output"] == "present" and out["size"] == 6
    assert out["type"] == "file" and out["mode"] == f"{path.stat().st_mode:o}"
    assert out["md5"] == "b1946ac92492d2347c6235b4d2611184"
    assert out["mtime_seconds"] == int(path.stat().st_mtime)
    assert out["mtime_age"] >= 0 and len(out["mtime"]) == 19
    assert FstatData().query(str(tmp_path))["type"] == "directory"


def test_fstat_missing_file_and_symlinks(tmp_path: Path) -> None:
    out = FstatData().query(str(tmp_path / "nope"))
    assert out["present"] == 0 and out["output"] == "not present"
    assert out.get("size") is None and out["md5"] is None
    target = tmp_path / "t"
    target.write_text("x")
    (tmp_path / "link").symlink_to(target)
    assert FstatData().query(str(tmp_path / "link"))["type"] == "symlink"
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert FstatData().query(str(tmp_path / "dangling"))["present"] == 0


def test_fstat_digests_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    calls: list[str] = []

    def fake_md5(path: str, deadline: float) -> str:
        calls.append(path)
        return "digest"

    monkeypatch.setattr(fstat_module, "_md5", fake_md5)
    path = tmp_path / "big.log"
    path.write_text("x")
    out = FstatData().query(str(path))
    assert out["size"] == 1 and calls == []
    assert out["md5"] == "digest" and len(calls) == 1
    assert out["md5"] == "digest" and len(calls) == 1  # computed once


def test_fstat_gives_up_a_digest_that_would_not_finish_in_time(tmp_path: Path) -> None:
    # 64 GiB of holes: minutes to digest, no disk used. A root daemon could be asked
    # for /proc/kcore just as well.
    path = tmp_path / "sparse"
    with open(path, "wb") as fh:
        fh.truncate(64 << 30)
    out = FstatData().query(str(path))
    assert out["size"] == 64 << 30
    assert out["md5"] is None  # the DDL's 1 s passed: given up, not read to the end
    soon = FstatData().query(str(path), deadline=time.monotonic() + 0.05)
    assert soon["md5"] is None


def test_fstat_rejects_an_empty_query() -> None:
    with pytest.raises(DDLValidationError):
        FstatData().query("")


def test_fact_plugin() -> None:
    plugin = FactData()
    with pytest.raises(DataPluginError, match="only answers on a node"):
        plugin.query("os")
    plugin.attach(context({"os": {"family": "Debian"}, "cpus": 16, "ips": ["a", "b"],
                           "os.name": "literal"}))
    assert plugin.query("os.family") == {"exists": True, "value": "Debian",
                                         "value_encoding": "text/plain"}
    assert plugin.query("cpus")["value"] == 16
    assert plugin.query("os.name")["value"] == "literal"  # a literal key wins
    assert plugin.query("ips.1")["value"] == "b"
    structured = plugin.query("os")
    assert structured["value_encoding"] == "application/json"
    assert json.loads(structured["value"]) == {"family": "Debian"}
    assert plugin.query("missing") == {"exists": False, "value": None,
                                       "value_encoding": None}
    with pytest.raises(DDLValidationError):
        plugin.query("not a fact")


def test_agent_plugin() -> None:
    from inprocess import Worker

    plugin = AgentData()
    ctx = context()
    ctx.agents = lambda: {"worker": Worker(ctx)}
    plugin.attach(ctx)
    out = plugin.query("worker")
    assert out == {"license": "Apache-2.0", "timeout": 1, "description": "test agent",
                   "url": "https://example.net", "version": "1.0.0", "author": "tests"}
    assert set(out) == set(AgentData.load_ddl().outputs)
    with pytest.raises(DataPluginError, match="no agent 'nope'"):
        plugin.query("nope")


def test_collective_plugin() -> None:
    plugin = CollectiveData(config_from_text("collectives = a,b\n"))
    assert plugin.query("b") == {"member": True}
    plugin.attach(context())
    assert plugin.query("dev") == {"member": True}
    assert plugin.query("prod") == {"member": False}


class Slow(DataPlugin):
    name = "slow"

    @classmethod
    def load_ddl(cls) -> DataDDL:
        return DataDDL.from_dict(doc(metadata={**META, "name": "slow"}))

    def run(self, argument: Any) -> Mapping[str, Any]:
        if argument == "boom":
            raise RuntimeError("exploded")
        if argument == "list":
            return ["not", "a", "mapping"]  # type: ignore[return-value]
        time.sleep(5)
        return {"value": "late"}


def test_query_is_bounded_by_the_ddl_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(DataPluginError, match="did not answer within 1s"):
        Slow().query("sleep")
    assert time.monotonic() - started < 4  # abandoned, not waited for


def test_query_within_a_spent_deadline_is_not_run() -> None:
    with pytest.raises(DataPluginError, match="max_filter_seconds"):
        Slow().query("sleep", deadline=time.monotonic() - 1)


def test_query_is_bounded_by_the_deadline_when_sooner() -> None:
    with pytest.raises(DataPluginError, match=r"did not answer within 0\.\d+s"):
        Slow().query("sleep", deadline=time.monotonic() + 0.1)


class Hung(DataPlugin):
    """Queries that never return until released (a hung NFS mount)."""

    name = "hung"
    max_stuck_queries = 3

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    @classmethod
    def load_ddl(cls) -> DataDDL:
        return DataDDL.from_dict(doc(metadata={**META, "name": "hung"}))

    def run(self, argument: Any) -> Mapping[str, Any]:
        self.release.wait(60)
        return {"value": argument}


def test_stuck_queries_are_bounded() -> None:
    plugin = Hung()
    try:
        for _ in range(3):
            with pytest.raises(DataPluginError, match="did not answer"):
                plugin.query("x", deadline=time.monotonic() + 0.05)
        assert plugin.stuck_queries() == 3
        threads = threading.active_count()
        with pytest.raises(DataPluginError, match="3 of its queries are still running"):
            plugin.query("x")
        assert threading.active_count() == threads  # no thread left behind this time
    finally:
        plugin.release.set()
    deadline = time.monotonic() + 30
    while plugin.stuck_queries() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert plugin.stuck_queries() == 0
    assert plugin.query("y") == {"value": "y"}


def test_query_failures_are_data_plugin_errors() -> None:
    with pytest.raises(DataPluginError, match="RuntimeError: exploded"):
        Slow().query("boom")
    with pytest.raises(DataPluginError, match="not a mapping"):
        Slow().query("list")


def test_ddl_file_must_name_its_plugin() -> None:
    class Misnamed(DataPlugin):
        name = "misnamed"
        ddl_file = "fstat.json"

        def run(self, argument: Any) -> Mapping[str, Any]:
            return {}

    Misnamed.__module__ = FstatData.__module__
    with pytest.raises(DDLError, match="names data plugin 'fstat'"):
        Misnamed.load_ddl()


# --- client-side checks of -S functions ---------------------------------------------------


@pytest.mark.parametrize(("expression", "message"), [
    ("fstta('/etc/hosts').size>0", "no data plugin 'fstta'.*did you mean 'fstat'"),
    ("fstat('/etc/hosts').sise>0", "no output 'sise'.*did you mean 'size'"),
    ("fstat('/etc/hosts')>0", "several outputs; name one"),
    ("fstat('').size>0", "data plugin 'fstat': .*query"),
    ("agent('no way').version=1", "data plugin 'agent': invalid query"),
    ("fact()", "query is required"),
])
def test_check_data_functions_rejects(expression: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        check_data_functions([parse_compound(expression)], make_plugin_manager())


def test_check_data_functions_accepts_and_sums_timeouts() -> None:
    exprs = [parse_compound("fstat('/etc/hosts').size>0 and fact('os.family')=Debian"),
             parse_compound("collective('x').member or fstat('/tmp').present=1"),
             parse_compound("apache and country=uk")]
    pm = make_plugin_manager()
    expected = sum(data_ddl(pm, n).timeout for n in ("fstat", "fact", "collective"))
    assert check_data_functions(exprs, pm) == expected
    assert check_data_functions([parse_compound("a or b")], pm) == 0


def test_data_ddl_of_a_plugin_without_ddl() -> None:
    pm = make_plugin_manager(load_entrypoints=False)

    class NoDDL:
        from mcollective import hookimpl

        @hookimpl
        @staticmethod
        def mco_data_create() -> Any:
            return None

    pm.register("data", "noddl", NoDDL)
    with pytest.raises(FilterSyntaxError, match="has no DDL"):
        data_ddl(pm, "noddl")


# --- on in-process daemons ------------------------------------------------------------------


@pytest.fixture(scope="module")
def three() -> Iterator[ClientSession]:
    with collective("n1", "n2", "n3", facts=FACTS) as (_, session):
        yield session


FACTS = {"n1": {"os": {"family": "Debian"}, "cpus": 4},
         "n2": {"os": {"family": "RedHat"}, "cpus": 16},
         "n3": {"os": {"family": "Debian"}, "cpus": 32}}


@pytest.mark.parametrize(("expression", "expected"), [
    ("fact('os.family').value=Debian", ["n1", "n3"]),
    ("fact('os.family')=RedHat", ["n2"]),
    ("fact('cpus').value>10", ["n2", "n3"]),
    ("fact('nope').exists=false", ["n1", "n2", "n3"]),
    ("not fact('os.family').value=Debian", ["n2"]),
    ("collective('mcollective').member=true", ["n1", "n2", "n3"]),
    ("collective('other').member", []),
    ("agent('worker').version=1.0.0 and fact('cpus').value<10", ["n1"]),
    ("agent('nope').version=1", []),  # not loaded: the plugin fails, the node is silent
    ("fstat('/').type=directory", ["n1", "n2", "n3"]),
])
def test_data_functions_select_nodes(three: ClientSession, expression: str,
                                     expected: list[str]) -> None:
    c = client(three, discovery_timeout=0.5)
    c.compound_filter(expression)
    assert sorted(c.discover()) == expected


def test_get_data_on_a_node(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.write_text("12345")
    with collective("n1", facts=FACTS) as (daemons, session):
        rpcutil = client(session, "rpcutil")
        assert set(daemons[0].data_plugins) >= {"fstat", "fact", "agent", "collective"}
        inventory = rpcutil.call("inventory")[0].data
        assert {"fstat", "fact", "agent", "collective"} <= set(inventory["data_plugins"])
        [reply] = rpcutil.call("get_data", source="fstat", query=str(marker))
        assert reply.statuscode == 0 and reply.data["size"] == 5
        assert reply.data["md5"] == "827ccb0eea8a706c4c34a16891f84e7b"
        [reply] = rpcutil.call("get_data", source="fact", query="os.family")
        assert reply.data["value"] == "Debian"
        [reply] = rpcutil.call("get_data", source="agent", query="rpcutil")
        assert reply.data["timeout"] == 10
        [bad] = rpcutil.call("get_data", source="agent", query="no way")
        assert bad.statuscode == 1


def test_a_data_ddl_go_choria_loads_warns_in_data_terms(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mcollective.ddl"):
        ddl = DataDDL.from_dict({"metadata": {"name": "x", "timeout": 1},
                                 "output": {"Value": {"description": "v"}}}, source="x.json")
    assert ddl.outputs["Value"].display_as == "Value"
    [message] = [r.getMessage() for r in caplog.records]
    assert "output 'Value': no 'display_as'" in message and "actions[0]" not in message
