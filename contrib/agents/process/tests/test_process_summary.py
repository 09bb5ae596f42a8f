"""The process_summary aggregate, directly and as a plugin found by its entry point."""

from __future__ import annotations

from mcollective.plugins import make_plugin_manager
from mcollective_agent_process.aggregate import FORMAT, ProcessSummary, bytes_to_human


def test_bytes_to_human() -> None:
    assert bytes_to_human(0) == "0 B"
    assert bytes_to_human(512) == "512 B"
    assert bytes_to_human(1536) == "1.5 KB"
    assert bytes_to_human(10 * 1024 ** 3) == "10 GB"
    assert bytes_to_human(3 * 1024 ** 5) == "3072 TB"


def test_sums_hosts_processes_and_memory() -> None:
    agg = ProcessSummary("pslist", {})
    agg.process([{"rss": 1024, "vsize": 1024 ** 2}, {"rss": 1024, "vsize": 1024 ** 2}], {})
    agg.process([], {})  # a node with no match
    agg.process(None, {})  # a failed node
    agg.process([{"rss": 2048, "vsize": 2 * 1024 ** 2}], {})
    result = agg.result()
    assert result.type == "numeric"
    assert result.value == (2, 3, "4 MB", "4 MB")
    assert result.format == FORMAT
    assert [line.strip() for line in result.lines()] == [
        "Matched hosts: 2", "Matched Processes: 3", "Resident Size: 4 MB",
        "Virtual Size: 4 MB"]


def test_loaded_through_the_entry_point() -> None:
    plugins = make_plugin_manager()
    agg = plugins.create_aggregate("process_summary", "pslist", {})
    assert isinstance(agg, ProcessSummary)
