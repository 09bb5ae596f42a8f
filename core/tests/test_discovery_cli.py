"""The discovery-related mco applications and options, run in-process against the
loopback collective: find, describe-filter, inventory (--lc, --script, graph), ping
with a node list, and rpc's targeting options (--nodes, stdin, --limit, --batch, --nr,
--reply-to)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inprocess import collective

from mcollective.cli import options
from mcollective.cli.application import Application
from mcollective.cli.apps.describe_filter import DescribeFilter
from mcollective.cli.apps.find import Find
from mcollective.cli.apps.inventory import Inventory
from mcollective.cli.apps.ping import Ping
from mcollective.cli.apps.rpc import Rpc
from mcollective.cli.inventory_script import Facts, InventoryNode, InventoryScript, Words
from mcollective.errors import MCollectiveError

FACTS = {"web1": {"country": "uk", "os": {"family": "Debian"}},
         "web2": {"country": "de", "os": {"family": "RedHat"}},
         "db1": {"country": "uk", "os": {"family": "Debian"}}}


class Fleet:
    def __init__(self, daemons: list[Any], config: Path) -> None:
        self.daemons = daemons
        self.plugins = daemons[0].plugins
        self.config = config

    def run(self, cls: type[Application], *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        app = cls(self.plugins, stdout=out, stderr=err)
        code = app.run(["-c", str(self.config), *argv])
        return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with collective(*FACTS, facts=FACTS) as (daemons, _):
        broker = daemons[0].config.plugin_config("loopback", {"name": str})["name"]
        path = tmp_path_factory.mktemp("cli") / "client.cfg"
        path.write_text(f"identity = client\nconnector = loopback\n"
                        f"plugin.loopback.name = {broker}\nsecurityprovider = contracttest\n"
                        "factsource = \nclassesfile = /nonexistent\n"
                        "discovery_timeout = 1\n")
        yield Fleet(daemons, path)


def lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.strip())


# --- find ---------------------------------------------------------------------------------


def test_find(fleet: Fleet) -> None:
    code, out, err = fleet.run(Find, "-F", "country=uk", "-v")
    assert code == 0 and lines(out) == ["db1", "web1"]
    assert "Discovered 2 nodes in" in err and "using the mc discovery plugin" in err
    code, out, _ = fleet.run(Find, "-S", "fact('os.family').value=RedHat")
    assert (code, lines(out)) == (0, ["web2"])
    code, out, _ = fleet.run(Find, "-F", "country=fr", "--dt", "0.2")
    assert (code, out) == (1, "")


def test_find_with_a_node_file(fleet: Fleet, tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("web2\n# not db1\nghost\n")
    code, out, _ = fleet.run(Find, "--nodes", str(nodes))
    assert (code, out.split()) == (0, ["web2", "ghost"])  # a list is taken as given
    code, out, _ = fleet.run(Find, "--nodes", str(nodes), "-I", "/^web/")
    assert out.split() == ["web2"]
    code, _, err = fleet.run(Find, "--nodes", str(nodes), "-F", "country=uk")
    assert code == 1 and "cannot use -F (facts) filters" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--nodes", "{nodes}", "--dm", "mc"], "cannot be combined with --dm mc"),
    (["--nodes", "{nodes}", "--do", "x"], "cannot be combined with --do"),
    (["--nodes", "/nonexistent/nodes.txt"], "cannot read /nonexistent/nodes.txt"),
    (["--dm", "nope"], "no discovery plugin 'nope'"),
    (["-S", "fact('x').valeu=1"], "no output 'valeu'"),
    (["-S", "apache and"], "cannot end with 'and'"),
])
def test_option_mistakes(fleet: Fleet, tmp_path: Path, argv: list[str], message: str
                         ) -> None:
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("web1\n")
    code, _, err = fleet.run(Find, *(a.format(nodes=nodes) for a in argv))
    assert code == 1 and message in err


def test_find_reads_a_piped_node_list(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, json.dumps([{"sender": "db1"}, {"sender": "web2"}]).encode())
    os.close(write_fd)
    with os.fdopen(read_fd) as reader:
        monkeypatch.setattr("sys.stdin", reader)
        code, out, err = fleet.run(Find, "-v")
    assert (code, out.split()) == (0, ["db1", "web2"])
    assert "using the stdin discovery plugin" in err


def test_an_empty_pipe_does_not_select_stdin(fleet: Fleet,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    with os.fdopen(read_fd) as reader:
        monkeypatch.setattr("sys.stdin", reader)
        code, out, err = fleet.run(Find, "-v")
    assert code == 0 and lines(out) == ["db1", "web1", "web2"] and "mc discovery" in err


def test_discovery_choice() -> None:
    parser = __import__("argparse").ArgumentParser()
    options.add_common(parser)
    assert options.discovery_choice(parser.parse_args([]), detect_stdin=False) == (
        None, [], None)
    args = parser.parse_args(["--dm", "inventory", "--do", "inv.yaml"])
    assert options.discovery_choice(args) == ("inventory", ["inv.yaml"], None)
    assert options.discovery_choice(parser.parse_args([]), stdin=io.StringIO("x")) == (
        None, [], None)
    assert parser.parse_args(["--discovery-window", "0.05"]).discovery_window == 0.05


def test_automatic_stdin_discovery_says_so_and_keeps_the_file_offset(tmp_path: Path
                                                                     ) -> None:
    parser = __import__("argparse").ArgumentParser()
    options.add_common(parser)
    options.add_filters(parser)
    listed = tmp_path / "hosts"
    listed.write_text("web1\nweb2\n")
    told: list[str] = []
    with listed.open() as stdin:
        choice = options.discovery_choice(parser.parse_args([]), stdin=stdin,
                                          notify=told.append)
        assert choice == ("stdin", [], "web1\nweb2\n")
        assert os.lseek(stdin.fileno(), 0, os.SEEK_CUR) == 0  # a while-read loop goes on
    assert told and "chosen automatically" in told[0] and "--dm mc" in told[0]
    for named in (["-I", "web1"], ["-F", "country=uk"], ["-C", "apache"], ["-S", "a=1"]):
        with listed.open() as stdin:
            assert options.discovery_choice(parser.parse_args(named), stdin=stdin) == (
                None, [], None), named
    with listed.open() as stdin:  # a regex selects from the piped list
        assert options.discovery_choice(parser.parse_args(["-I", "/1/"]), stdin=stdin)[0] \
            == "stdin"
    with pytest.raises(SystemExit):
        parser.parse_args(["--discovery-window", "0"])


# --- describe-filter -----------------------------------------------------------------------


def test_describe_filter(fleet: Fleet) -> None:
    code, out, _ = fleet.run(DescribeFilter, "-F", "os.family=Debian", "-C", "/^web/",
                             "-A", "package", "-I", "web1", "-I", "/^db/", "-W", "apache a=1",
                             "-S", "(apache or fstat('/etc/motd').size>0) and not country=de")
    assert code == 0
    assert out.splitlines() == [
        "-W 'apache a=1'",
        "    fact 'a' equals '1'",
        "    has class 'apache'",
        "-S '(apache or fstat('\"'\"'/etc/motd'\"'\"').size>0) and not country=de'",
        "    (",
        "      has class 'apache'",
        "      or data fstat('/etc/motd').size is greater than '0'",
        "    )",
        "    and not fact 'country' equals 'de'",
        "-F os.family=Debian",
        "    fact 'os.family' equals 'Debian'",
        "-C '/^web/'",
        "    has a class matching /^web/",
        "-A package",
        "    has agent 'package'",
        "-I web1 -I '/^db/'",
        "    identity is 'web1' or matches /^db/",
        "",
        "A node matches when it passes every line above (one of the identities is enough).",
    ]


def test_describe_filter_json_empty_and_errors(fleet: Fleet) -> None:
    code, out, _ = fleet.run(DescribeFilter, "-F", "a>1", "-j")
    assert code == 0 and json.loads(out)["fact"] == [{"fact": "a", "operator": ">",
                                                      "value": "1"}]
    assert fleet.run(DescribeFilter)[1] == "No filter: every node matches.\n"
    code, _, err = fleet.run(DescribeFilter, "-S", "nope('x').y=1")
    assert code == 1 and "no data plugin 'nope'" in err


# --- inventory -------------------------------------------------------------------------------


def test_inventory_list_collectives_and_graph(fleet: Fleet, tmp_path: Path) -> None:
    graph = tmp_path / "c.dot"
    code, out, _ = fleet.run(Inventory, "--lc", "--collective-graph", str(graph))
    assert code == 0
    assert out.splitlines()[2].split() == ["mcollective", "3"]
    assert out.splitlines()[-1].split() == ["Total", "nodes:", "3"]
    dot = graph.read_text()
    assert dot.startswith("graph collectives {") and '"mcollective" -- "web2";' in dot
    code, out, _ = fleet.run(Inventory, "--lc", "-F", "country=uk", "-j")
    assert json.loads(out) == {"collectives": {"mcollective": 2}, "total": 2}


def test_inventory_script_with_a_format_string(fleet: Fleet, tmp_path: Path) -> None:
    script = tmp_path / "report.py"
    script.write_text('heading = "NODE OS"\n'
                      'format = "{identity:6}{facts[os.family]:8}{facts[nope]}|{agents}"\n')
    code, out, _ = fleet.run(Inventory, "--script", str(script), "-F", "country=uk")
    assert code == 0
    first, *rows = out.splitlines()
    assert first == "NODE OS"
    assert [r.split("|")[0] for r in rows] == ["db1   Debian  ", "web1  Debian  "]
    assert "rpcutil" in rows[0] and ", " in rows[0]


def test_inventory_script_with_fields(fleet: Fleet, tmp_path: Path) -> None:
    script = tmp_path / "report.py"
    script.write_text('format = "%s has %d classes in %s"\n'
                      "def fields(node):\n"
                      "    return node.identity, len(node.classes), node.main_collective\n")
    code, out, _ = fleet.run(Inventory, "--script", str(script), "web2")
    assert (code, out) == (0, "web2 has 0 classes in mcollective\n")


@pytest.mark.parametrize(("text", "message"), [
    ("x = 1\n", "must set format to a string"),
    ("format = 'x'\nfields = 3\n", "fields must be a function"),
    ("raise ValueError('bad')\n", "failed to load: ValueError: bad"),
    ("format = '{nope}'\n", "failed for db1: KeyError"),
])
def test_inventory_script_errors(fleet: Fleet, tmp_path: Path, text: str, message: str
                                 ) -> None:
    script = tmp_path / "report.py"
    script.write_text(text)
    code, _, err = fleet.run(Inventory, "--script", str(script), "db1")
    assert code == 1 and message in err
    assert "does not exist" in fleet.run(Inventory, "--script", str(tmp_path / "x.py"))[2]
    assert "name a node" in fleet.run(Inventory)[2]


def test_inventory_script_views() -> None:
    node = InventoryNode.from_reply("n1", {"facts": {"os": {"family": "Debian"}, "n": None},
                                           "classes": ["a", "b"], "agents": "bogus"})
    assert node.facts["os.family"] == "Debian" and node.facts["missing"] == ""
    assert node.facts["n"] == "" and node.facts.get("n") is None and "n" in node.facts
    assert node.facts.get("missing", 1) == 1 and "missing" not in node.facts
    assert str(node.classes) == "a, b" and f"{node.classes:>6}" == "  a, b"
    assert node.agents == Words() and len(Facts({"a": 1})) == 1
    script = InventoryScript("inline", "{identity}-{classes}")
    assert script.render(node) == "n1-a, b"
    with pytest.raises(MCollectiveError, match="failed for n1"):
        InventoryScript("inline", "%d", fields=lambda n: n.identity).render(node)


# --- ping ------------------------------------------------------------------------------------


def test_ping_a_node_list_names_the_silent_ones(fleet: Fleet, tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("web1\nghost\n")
    code, out, _ = fleet.run(Ping, "--nodes", str(nodes), "-t", "0.5")
    assert code == 5  # a listed node did not answer
    assert out.split()[0] == "web1" and "1 replies max:" in out
    assert out.rstrip().endswith("No response from:\n   ghost")
    code, out, _ = fleet.run(Ping, "-F", "country=uk")
    assert code == 0 and "2 replies" in out


# --- rpc targeting options -------------------------------------------------------------------


def senders(out: str) -> list[str]:
    return sorted(r["sender"] for r in json.loads(out))


def test_rpc_limit_and_seed_are_repeatable(fleet: Fleet) -> None:
    picks = [senders(fleet.run(Rpc, "rpcutil", "ping", "--limit-nodes", "67%",
                               "--limit-seed", "7",
                               "--json-format", "mcollective")[1]) for _ in range(2)]
    assert picks[0] == picks[1] and len(picks[0]) == 2
    assert len(senders(fleet.run(Rpc, "rpcutil", "ping", "-1",
                                 "--json-format", "mcollective")[1])) == 1
    with pytest.raises(SystemExit):
        fleet.run(Rpc, "rpcutil", "ping", "--limit", "0")
    with pytest.raises(SystemExit):
        fleet.run(Rpc, "rpcutil", "ping", "--batch", "x%")


def test_rpc_batches(fleet: Fleet) -> None:
    code, out, _ = fleet.run(Rpc, "rpcutil", "ping", "--batch", "2", "--batch-sleep", "0",
                             "--json-format", "mcollective")
    assert code == 0 and senders(out) == ["db1", "web1", "web2"]
    code, _, err = fleet.run(Rpc, "rpcutil", "ping", "--batch", "2", "--nr")
    assert code == 1 and "cannot be combined with --nr" in err


def test_rpc_no_results_and_reply_to(fleet: Fleet, tmp_path: Path) -> None:
    code, out, _ = fleet.run(Rpc, "rpcutil", "ping", "--nr")
    assert code == 0 and out.startswith("Request sent with id: ") and len(out.split()[-1]) == 32
    code, out, _ = fleet.run(Rpc, "rpcutil", "ping", "--reply-to", "somewhere.else",
                             "-I", "web1")
    assert code == 0 and out.rstrip().endswith("replies to somewhere.else")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody\n")
    code, _, err = fleet.run(Rpc, "rpcutil", "ping", "--reply-to", "x", "--nodes", str(empty))
    assert code == 1 and "we did not discover any nodes" in err


def test_rpc_with_a_node_file_prints_the_method_without_a_timeout(fleet: Fleet,
                                                                   tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("- web1\n- db1\n")
    code, out, err = fleet.run(Rpc, "rpcutil", "ping", "--nodes", str(nodes))
    assert code == 0 and "Finished processing 2 / 2 hosts" in out
    assert "Discovering hosts using the flatfile method .... 2" in err


@pytest.mark.parametrize(("text", "translated"), [
    ('inventory do\n  format "%s\\t%s"\n  fields { [ identity, facts["kernel"] ] }\nend\n',
     'format = "%s\\t%s"\n\ndef fields(node):\n    return node.identity, '
     "node.facts['kernel']"),
    ("inventory {\n  format '%s %s'\n  fields do [ identity, classes ] end\n}\n",
     "format = '%s %s'\n\ndef fields(node):\n    return node.identity, node.classes"),
    # Anything the translation cannot follow gets the general shape instead.
    ('inventory do\n  format "%s"\n  fields { [ facts["x"].upcase ] }\nend\n', None),
    ("inventory do\n  page_length 20\nend\n", None),
])
def test_ruby_inventory_scripts_are_named_not_run(tmp_path: Path, text: str,
                                                  translated: str | None) -> None:
    path = tmp_path / "report.rb"
    path.write_text(text)
    with pytest.raises(MCollectiveError) as info:
        InventoryScript.load(path)
    message = str(info.value)
    assert message.startswith(f"inventory script {path} is written in MCollective's Ruby "
                              "inventory DSL (inventory do ... end)")
    if translated is not None:
        assert translated in message
    else:
        assert 'def fields(node):\n    return node.identity, node.facts["os.family"]' in message
