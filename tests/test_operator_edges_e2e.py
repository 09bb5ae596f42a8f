"""The smaller edges a veteran operator trips over in the first hour, through the real
``mco`` and real ``mcollectived`` processes: unknown facts, skipped discovery, MCollective's
command spellings, ``mco plugin doc``/``info``, options after a subcommand, and an old
Ruby inventory script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fleet import ok

from mcollective.testing import LocalCollective
from mcollective.testing.collective import _script


@pytest.fixture(scope="module")
def collective(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with LocalCollective(tmp_path_factory.mktemp("edges") / "collective") as lc:
        lc.add_node("node1.example.net", facts={"country": "uk"}, wait=False)
        lc.add_node("node2.example.net", facts={"role": "db"}, wait=False)
        for node in lc.nodes.values():
            lc.wait_ready(node)
        yield lc


def mco_raw(collective: LocalCollective, *args: str) -> subprocess.CompletedProcess[str]:
    """``mco`` with the arguments exactly as given (LocalCollective.mco puts ``-c``
    right after the command)."""
    return subprocess.run([*_script("mco"), *args], env=collective.env(),
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)


def test_facts_of_an_unknown_fact_says_so(collective: LocalCollective) -> None:
    proc = ok(collective.mco("facts", "no_such_fact"))
    assert "Fact 'no_such_fact' is not set on any of the 2 node(s) that answered" in \
        proc.stdout
    assert "null" not in proc.stdout
    partial = ok(collective.mco("facts", "country", "-v"))
    assert "uk  found 1 times" in partial.stdout
    assert "not set on 1 node(s): node2.example.net" in partial.stdout


def test_no_discovery_time_when_discovery_is_skipped(collective: LocalCollective) -> None:
    named = ok(collective.mco("rpc", "rpcutil", "ping", "-I", "node1.example.net"))
    assert "Discovery skipped: the 1 node(s) named are addressed directly" in named.stderr
    assert "second(s)" not in named.stderr
    broadcast = ok(collective.mco("rpc", "rpcutil", "ping"))
    assert "Discovering hosts using the mc method for" in broadcast.stderr


def test_describe_filter_as_mcollective_spells_it(collective: LocalCollective) -> None:
    spelt = ok(collective.mco("describe_filter", "-F", "country=uk"))
    assert spelt.stdout == ok(collective.mco("describe-filter", "-F", "country=uk")).stdout
    assert "fact 'country' equals 'uk'" in spelt.stdout


def test_plugin_doc_shows_clean_descriptions(collective: LocalCollective) -> None:
    listing = ok(collective.mco("plugin", "doc")).stdout
    for markup in ("``", ":mod:", ":class:", "Plugin object for", "Entry point "):
        assert markup not in listing, markup
    assert "Pre-shared key security for mcollective" in listing  # the psk summary
    assert "Retrieve file stat data for a given file" in listing  # fstat's DDL
    fstat = ok(collective.mco("plugin", "doc", "data/fstat")).stdout
    assert "``" not in fstat and "-S \"fstat('/etc/hosts').size>0\"" in fstat


def test_options_after_the_subcommand(collective: LocalCollective) -> None:
    config = str(collective.client_config)
    after = ok(mco_raw(collective, "plugin", "doc", "rpcutil", "-c", config))
    before = ok(mco_raw(collective, "plugin", "-c", config, "doc", "rpcutil"))
    assert after.stdout == before.stdout and "rpcutil" in after.stdout
    missing = mco_raw(collective, "plugin", "doc", "rpcutil", "-c", "/nonexistent.cfg")
    assert missing.returncode == 1
    assert "/nonexistent.cfg: configuration file not found" in missing.stderr


def test_plugin_info(collective: LocalCollective) -> None:
    info = ok(collective.mco("plugin", "info", "package")).stdout
    assert "Distribution:  mcollective-agent-package" in info
    assert "Entry point:   mcollective.agents: package = " in info
    assert "Actions:" in info and "install" in info and "Status:        loads" in info
    data = ok(collective.mco("plugin", "info", "data/fstat")).stdout
    assert "Data Queries" in data and "fstat.json" in data
    unknown = collective.mco("plugin", "info", "pakage")
    assert unknown.returncode == 1
    assert "no plugin 'pakage' is installed; did you mean 'package'?" in unknown.stderr


RUBY_REPORT = """inventory do
    format "%s:\\t\\t%s\\t\\t%s"

    fields { [ identity, facts["serialnumber"], facts["productname"] ] }
end
"""


def test_a_ruby_inventory_script_is_named_with_what_to_write(
        collective: LocalCollective, tmp_path: Path) -> None:
    script = tmp_path / "report.rb"
    script.write_text(RUBY_REPORT)
    proc = collective.mco("inventory", "--script", str(script))
    assert proc.returncode == 1
    assert f"inventory script {script} is written in MCollective's Ruby inventory DSL" in \
        proc.stderr
    assert ("def fields(node):\n    return node.identity, node.facts['serialnumber'], "
            "node.facts['productname']") in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    # What it says to write works.
    python = tmp_path / "report.py"
    python.write_text('format = "%s:\\t%s"\n\ndef fields(node):\n'
                      '    return node.identity, node.facts["country"]\n')
    report = ok(collective.mco("inventory", "--script", str(python)))
    assert report.stdout.splitlines() == ["node1.example.net:\tuk", "node2.example.net:\t"]
