"""Aggregate plugins and the client-side collector, against Choria's sample replies and
the real DDLs that declare summaries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcollective.aggregate import (
    ActionSummaries,
    Aggregate,
    AggregateError,
    AggregateResult,
    summarize,
)
from mcollective.aggregates.average import Average
from mcollective.aggregates.boolean_summary import BooleanSummary
from mcollective.aggregates.chart import Chart
from mcollective.aggregates.sum import Sum
from mcollective.aggregates.summary import Summary
from mcollective.client.results import Result
from mcollective.ddl import action_ddl, aggregate_spec, load_agent_ddl, output_item
from mcollective.hookspecs import hookimpl
from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.testing import choria_corpus_path

#: The Choria DDL corpus shipped with mcollective.testing.
CORPUS = choria_corpus_path()


def results_from(replies: list[dict[str, Any]], agent: str = "package",
                 action: str = "status") -> list[Result]:
    return [Result(r["sender"], r["statuscode"], r["statusmsg"], r["data"], agent, action)
            for r in replies]


def result(sender: str, data: Any, code: int = 0) -> Result:
    return Result(sender, code, "OK" if code == 0 else "failed", data, "a", "b")


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    """The installed aggregate plugins, through their entry points."""
    return make_plugin_manager()


# --- the plugins one by one ------------------------------------------------------------------


def test_summary_counts_values_and_sorts_by_count() -> None:
    agg = Summary("ensure", {})
    for value in ["1.0", "2.0", "1.0", "1.0"]:
        agg.process(value, {})
    res = agg.result()
    assert (res.type, res.value) == ("collection", {"1.0": 3, "2.0": 1})
    assert res.lines() == ["1.0 = 3", "2.0 = 1"]


def test_summary_counts_arrays_element_wise_and_spells_values_as_json() -> None:
    agg = Summary("collectives", {})
    agg.process(["mcollective", "dev"], {})
    agg.process(["mcollective"], {})
    agg.process(True, {})
    agg.process({"b": 1, "a": 2}, {})
    assert agg.result().value == {"mcollective": 2, "dev": 1, "true": 1, '{"a": 2, "b": 1}': 1}


def test_summary_labels_and_format() -> None:
    agg = Summary("enabled", {"true": "on", "format": "%s: %d node(s)"})
    for value in (True, True, False):
        agg.process(value, {})
    assert agg.result().lines() == ["on: 2 node(s)", "false: 1 node(s)"]


def test_boolean_summary_relabels_and_accepts_boolean_strings() -> None:
    agg = BooleanSummary("enabled", {"true": "enabled", "false": "disabled"})
    for value in (True, "false", "yes", False, "maybe"):
        agg.process(value, {})
    res = agg.result()
    assert res.function == "boolean_summary"
    assert res.value == {"enabled": 2, "disabled": 2, "maybe": 1}
    assert res.lines() == ["disabled = 2", " enabled = 2", "   maybe = 1"]


def test_average_and_sum_with_default_and_custom_formats() -> None:
    avg, total = Average("time", {}), Sum("time", {"format": "Total: %d s"})
    for value in (1, 2.5, "3.5"):  # numbers in strings count: shell agents send those
        avg.process(value, {})
        total.process(value, {})
    assert avg.result().lines() == ["Average of time: 2.333333"]
    assert avg.result().extra == {"count": 3}
    assert total.result().lines() == ["Total: 7 s"]
    assert Average("t", {"format": "Average: %0.2f"}).format == "Average: %0.2f"


def test_numeric_aggregates_refuse_what_is_not_a_number() -> None:
    for value in ("fast", True, [1]):
        with pytest.raises(AggregateError, match="time"):
            Average("time", {}).process(value, {})
    with pytest.raises(AggregateError, match="no reply"):
        Average("time", {}).result()
    assert Sum("time", {}).result().value == 0  # an empty sum is 0, not an error


def test_chart_buckets_values_and_draws_bars() -> None:
    chart = Chart("load", {"buckets": 2})
    for value in (0, 1, 2, 9, 10):
        chart.process(value, {})
    res = chart.result()
    assert res.value == [["0 - 5", 3], ["5 - 10", 2]]
    lines = res.lines()
    assert lines[0].startswith(" 0 - 5 | ") and lines[0].endswith("#" * 40 + " 3")
    assert lines[1].endswith(" 2") and lines[1].count("#") == 27
    one = Chart("load", {})
    one.process(4, {})
    assert one.result().value == [["4", 1]]
    with pytest.raises(AggregateError, match="buckets"):
        Chart("load", {"buckets": 0})


def test_a_format_that_does_not_fit_is_an_aggregate_error() -> None:
    res = AggregateResult("x", "average", "numeric", 1.5, "%s and %s")
    with pytest.raises(AggregateError, match="does not fit"):
        res.lines()
    with pytest.raises(AggregateError, match="format"):
        _ = Summary("x", {"format": 3}).format


def test_results_serialise_for_json_output() -> None:
    res = AggregateResult("load", "chart", "chart", [("0 - 1", 2)], None, {"min": 0})
    assert res.to_dict() == {"output": "load", "function": "chart", "type": "chart",
                             "value": [["0 - 1", 2]], "format": None, "extra": {"min": 0}}


# --- the collector --------------------------------------------------------------------------


def test_package_status_summaries_over_choria_sample_replies(plugins: PluginManager) -> None:
    replies = json.loads((CORPUS / "replies" / "package_replies.json").read_text())
    action = load_agent_ddl(CORPUS / "package.json").action("status")
    assert [a.output for a in action.aggregates] == ["ensure", "arch"]
    report = summarize(action, results_from(replies), plugins)
    assert not report.failures and not report.skipped
    ensure, arch = report.results
    assert ensure.value == {"5.0.2-33.el7": 5, "5.0.2-31.el7": 1}
    assert ensure.lines() == ["5.0.2-33.el7 = 5", "5.0.2-31.el7 = 1"]
    assert arch.lines() == ["x86_64 = 6"]


def test_puppet_boolean_summary_and_average_from_the_real_ddl(plugins: PluginManager) -> None:
    ddl = load_agent_ddl(CORPUS / "puppet.json")
    status = ddl.action("status")
    replies = [result(f"n{i}", {"enabled": i != 2, "applying": False}) for i in range(4)]
    report = summarize(status, replies, plugins)
    by_output = {r.output: r for r in report.results}
    assert by_output["enabled"].value == {"enabled": 3, "disabled": 1}
    summary = ddl.action("last_run_summary")
    runs = [result(f"n{i}", {"config_retrieval_time": t, "total_time": 2 * t,
                              "total_resources": 10}) for i, t in enumerate((1.0, 2.0))]
    lines = {r.output: r.lines() for r in summarize(summary, runs, plugins).results}
    assert lines["config_retrieval_time"] == ["Average: 1.50"]


def test_ruby_only_functions_are_skipped_not_failed(plugins: PluginManager) -> None:
    action = load_agent_ddl(CORPUS / "nrpe.json").action("runcommand")
    report = summarize(action, [result("n1", {"exitcode": 0})], plugins)
    assert report.skipped == [("nagios_states", "exitcode")]
    assert not report.failures


def test_duplicate_declarations_are_computed_once(plugins: PluginManager) -> None:
    act = action_ddl("x", "x", outputs=[output_item("v", description="v")],
                     aggregates=[aggregate_spec("summary", "v"),
                                 aggregate_spec("summary", "v")])
    assert len(summarize(act, [result("n1", {"v": 1})], plugins).results) == 1


def test_failures_are_per_output_and_never_raise(plugins: PluginManager) -> None:
    act = action_ddl("x", "x", outputs=[output_item("v", description="v"),
                                        output_item("w", description="w")],
                     aggregates=[aggregate_spec("average", "v"),
                                 aggregate_spec("summary", "w"),
                                 aggregate_spec("sum", "w", format="%s %s %s")])
    rows = [result("n1", {"v": "slow", "w": "a"}), result("n2", {"v": 2, "w": "b"}),
            result("n3", "not a dict"), result("n4", {"w": None})]
    report = summarize(act, rows, plugins)
    assert [r.output for r in report.results] == ["w"]
    failures = {(f.function, f.stage): f.reason for f in report.failures}
    assert "'v' is not a number" in failures[("average", "process")]
    assert "reply from n1" in failures[("average", "process")]
    assert ("sum", "process") in failures  # "a" is not a number either


def test_failed_replies_feed_aggregates_when_they_hold_the_output(
        plugins: PluginManager) -> None:
    act = action_ddl("x", "x", outputs=[output_item("v", description="v")],
                     aggregates=[aggregate_spec("summary", "v")])
    report = summarize(act, [result("n1", {"v": "a"}, code=1), result("n2", {}, code=1)],
                       plugins)
    assert report.results[0].value == {"a": 1}


class Exploding(Aggregate):
    """A plugin that fails at each stage the collector guards."""

    def __init__(self, output: str, options: dict[str, Any]) -> None:
        if options.get("at") == "create":
            raise RuntimeError("cannot start")
        super().__init__(output, options)

    def process(self, value: Any, reply: dict[str, Any]) -> None:
        if self.options.get("at") == "process":
            raise KeyError("nope")

    def result(self) -> AggregateResult:
        if self.options.get("at") == "summarize":
            raise ZeroDivisionError("division by zero")
        return AggregateResult(self.output, "exploding", "numeric", 1, "%d")


class ExplodingPlugin:
    @hookimpl
    @staticmethod
    def mco_aggregate_create(output: str, options: dict[str, Any]) -> Aggregate:
        return Exploding(output, options)


def test_a_plugin_raising_anywhere_is_reported_with_its_stage() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register("aggregate", "exploding", ExplodingPlugin)
    act = action_ddl("x", "x", outputs=[output_item("v", description="v")], aggregates=[
        aggregate_spec("exploding", "v", at=stage)
        for stage in ("create", "process", "summarize", "never")])
    collector = ActionSummaries(act, pm)
    collector.process(result("n1", {"v": 1}))
    report = collector.report()
    assert [(f.stage, f.reason.split(":")[0]) for f in report.failures] == [
        ("create", "could not load the exploding plugin"),
        ("process", "exception raised while processing the reply from n1"),
        ("summarize", "exception raised while summarizing")]
    assert "cannot start" in report.failures[0].reason
    assert [r.value for r in report.results] == [1]
    assert str(report.failures[0]).startswith("exploding(v): ")


def test_no_action_or_no_aggregates_gives_an_empty_report(plugins: PluginManager) -> None:
    assert not summarize(None, [result("n1", {"v": 1})], plugins)
    assert not ActionSummaries(action_ddl("x", "x"), plugins)


def test_core_registers_every_aggregate_entry_point(plugins: PluginManager) -> None:
    names = set(plugins.known_names("aggregate"))
    assert {"summary", "boolean_summary", "average", "sum", "chart"} <= names
    made = plugins.create_aggregate("boolean_summary", "enabled", {"true": "on"})
    assert isinstance(made, BooleanSummary) and made.options == {"true": "on"}
