"""Discovery against real daemons with the real mco: every filter kind (data-plugin
functions included), list methods (flatfile, stdin, inventory), the identity short-cut,
and the discovery-related applications."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fleet import FLEET, daemon_stats, lines, ok, rpc_json

from mcollective.testing import LocalCollective
from mcollective.testing.collective import _script

EDGE = ("edge1.example.net", {"country": "fr", "role": "edge", "cpus": 2,
                              "os": {"family": "Alpine", "release": {"major": "3"}},
                              "ips": ["10.9.0.1"]}, ["base"])
NODES = {**FLEET, EDGE[0]: (EDGE[1], EDGE[2])}
ALL = sorted(NODES)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCollective]:
    root = tmp_path_factory.mktemp("discovery")
    collective = LocalCollective(root)
    try:
        for identity, (facts, classes) in FLEET.items():
            collective.add_node(identity, facts=facts, classes=classes, wait=False)
        # The registration receiver: the one node with the 'registration' agent.
        collective.add_node(EDGE[0], facts=EDGE[1], classes=EDGE[2], wait=False,
                            settings={"plugin.registration.inventory": str(root / "inv.yaml")})
        for node in collective.nodes.values():
            collective.wait_ready(node)
        yield collective
    finally:
        collective.stop_all()


def senders(replies: list[dict[str, Any]]) -> list[str]:
    return sorted(r["sender"] for r in replies)


MARKER = Path(__file__)  # a file every node (all on this machine) can fstat


@pytest.mark.parametrize(("args", "expected"), [
    (["-F", "os.family=Debian"], ["db1.example.net", "web1.example.net"]),
    (["-F", "cpus>=16", "-F", "country=uk"], ["db1.example.net"]),
    (["-C", "base", "-C", "/^apa/"], ["web1.example.net", "web2.example.net"]),
    (["-I", "edge1.example.net", "-I", "/^web2/"], ["edge1.example.net", "web2.example.net"]),
    (["-A", "registration"], ["edge1.example.net"]),
    (["-A", "/^regis/", "-F", "role=edge"], ["edge1.example.net"]),
    (["-W", "base role=db"], ["db1.example.net"]),
    (["-S", "fact('os.family').value=Debian"], ["db1.example.net", "web1.example.net"]),
    (["-S", "fact('cpus').value>=16"], ["db1.example.net", "web2.example.net"]),
    (["-S", "fact('os.release.major')=12 or fact('ips').value=/10\\.9/"],
     ["edge1.example.net", "web1.example.net"]),
    (["-S", f"fstat('{MARKER}').size>0"], ALL),
    (["-S", f"fstat('{MARKER}.missing').present=0 and apache"],
     ["web1.example.net", "web2.example.net"]),
    (["-S", "collective('mcollective').member=true and role=web"],
     ["web1.example.net", "web2.example.net"]),
    (["-S", "agent('registration').version=/./"], ["edge1.example.net"]),
    (["-S", "not agent('registration').version=/./"], []),  # absent agent: node silent
    (["-S", "(mysql or role=edge) and not cpus>10"], ["edge1.example.net"]),
    (["-S", "apache", "-S", "country=uk"], ["web1.example.net"]),
])
def test_find_returns_exactly_the_matching_identities(fleet: LocalCollective,
                                                      args: list[str],
                                                      expected: list[str]) -> None:
    proc = fleet.mco("find", *args, "--dt", "1")
    assert proc.returncode == (0 if expected else 1), proc.stderr
    assert lines(proc) == expected


def test_find_with_the_hostname_file(fleet: LocalCollective) -> None:
    hostname = Path("/etc/hostname")
    if not hostname.is_file() or hostname.stat().st_size == 0:
        pytest.skip("no /etc/hostname on this machine")
    assert lines(ok(fleet.mco("find", "-S", "fstat('/etc/hostname').size>0"))) == ALL


def test_bad_filters_are_rejected_before_anything_is_sent(fleet: LocalCollective) -> None:
    before = daemon_stats(fleet, "web2.example.net")["total"]
    for args, message in (
        (["-S", "fstat('/etc/hosts').sise>0"], "no output 'sise'"),
        (["-S", "fstta('/etc/hosts').size>0"], "no data plugin 'fstta'"),
        (["-S", "agent('a b').version=1"], "data plugin 'agent': invalid query"),
        (["-S", "apache and or nginx"], "'or' cannot follow 'and'"),
        (["-F", "a<=>b"], "malformed operator"),
    ):
        proc = fleet.mco("find", *args)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    # Only the second daemon_stats request itself reached the node.
    assert daemon_stats(fleet, "web2.example.net")["total"] == before + 1


def test_identity_only_filters_send_no_discovery_broadcast(fleet: LocalCollective) -> None:
    def totals() -> dict[str, int]:
        # --dt: a discovery round each time (not the discovery cache's one round), so
        # that every call reaches every node twice, as counted below.
        return {r["sender"]: r["data"]["total"]
                for r in rpc_json(fleet, "rpcutil", "daemon_stats", "--dt", "5")}

    before = totals()
    ok(fleet.mco("rpc", "rpcutil", "ping", "-I", "web1.example.net",
                 "-I", "db1.example.net"))
    assert lines(ok(fleet.mco("find", "-I", "web2.example.net"))) == ["web2.example.net"]
    after = totals()
    # Every node saw the second daemon_stats call (its discovery and the request);
    # web1 and db1 the direct ping too; the find sent nothing at all.
    assert {n: after[n] - before[n] for n in ALL} == {
        "web1.example.net": 3, "db1.example.net": 3, "web2.example.net": 2,
        "edge1.example.net": 2}


# --- list methods ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content"), [
    ("nodes.txt", "# the web tier\nweb1.example.net\nweb2.example.net  # second\n"),
    ("nodes.json", json.dumps(["web1.example.net", {"sender": "web2.example.net"}])),
    ("nodes.yaml", yaml.safe_dump(["web1.example.net", "web2.example.net"])),
])
def test_flatfile_reaches_exactly_the_listed_nodes(fleet: LocalCollective, tmp_path: Path,
                                                   name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    replies = rpc_json(fleet, "rpcutil", "ping", "--nodes", str(path))
    assert senders(replies) == ["web1.example.net", "web2.example.net"]
    assert lines(ok(fleet.mco("find", "--nodes", str(path), "-I", "/2/"))) == [
        "web2.example.net"]


def test_rpc_json_piped_into_the_next_rpc(fleet: LocalCollective) -> None:
    first = ok(fleet.mco("rpc", "rpcutil", "get_fact", "fact=country", "-F", "country=uk",
                         "--json-format", "mcollective"))
    explicit = ok(fleet.mco("rpc", "rpcutil", "ping", "--dm", "stdin",
                            "--json-format", "mcollective",
                            input=first.stdout))
    assert senders(json.loads(explicit.stdout)) == ["db1.example.net", "web1.example.net"]
    # Without --dm: a node list piped in selects the stdin method by itself.
    auto = ok(fleet.mco("rpc", "rpcutil", "ping", input=first.stdout))
    assert "Discovering hosts using the stdin method .... 2" in auto.stderr
    assert "chosen automatically" in auto.stderr and "--dm mc or </dev/null" in auto.stderr
    assert "Finished processing 2 / 2 hosts" in auto.stdout
    text = ok(fleet.mco("find", input="edge1.example.net\nweb2.example.net\n"))
    assert text.stdout.split() == ["edge1.example.net", "web2.example.net"]


@pytest.mark.parametrize("feed", ["file", "pipe"])
def test_while_read_loops_around_mco(fleet: LocalCollective, tmp_path: Path,
                                     feed: str) -> None:
    """``while read h; do mco ... -I "$h"; done < hosts``: each mco answers for its
    line and leaves the rest of the loop's input alone."""
    hosts = tmp_path / "hosts"
    hosts.write_text("web1.example.net\nweb2.example.net\ndb1.example.net\n")
    mco = shlex.join([*_script("mco"), "rpc", "-c", str(fleet.client_config)])
    loop = (f'while read h; do {mco} rpcutil ping -I "$h" --senders; '
            f'echo "rc=$?"; done')
    script = (f"{loop} < {shlex.quote(str(hosts))}" if feed == "file"
              else f"cat {shlex.quote(str(hosts))} | {{ {loop}; }}")
    proc = subprocess.run(script, shell=True, executable="/bin/bash", env=fleet.env(),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300, check=False)
    assert proc.stdout.split() == ["web1.example.net", "rc=0", "web2.example.net", "rc=0",
                                   "db1.example.net", "rc=0"], proc.stderr
    assert "standard input" not in proc.stderr


def test_a_file_on_stdin_is_read_without_moving_its_offset(fleet: LocalCollective,
                                                          tmp_path: Path) -> None:
    """Without filters a file on stdin is the node list (said on stderr); the loop
    reading the same file still gets its next line."""
    hosts = tmp_path / "hosts"
    hosts.write_text("web1.example.net\nweb2.example.net\n")
    mco = shlex.join([*_script("mco"), "find", "-c", str(fleet.client_config)])
    script = f"{{ read first; {mco}; read second; echo \"second=$second\"; }} < {hosts}"
    proc = subprocess.run(script, shell=True, executable="/bin/bash", env=fleet.env(),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300, check=False)
    assert proc.stdout.split() == ["web2.example.net", "second=web2.example.net"]
    assert "chosen automatically" in proc.stderr


def test_an_empty_pipe_means_normal_discovery(fleet: LocalCollective) -> None:
    assert lines(ok(fleet.mco("find", input=""))) == ALL


def test_inventory_discovery(fleet: LocalCollective, tmp_path: Path) -> None:
    inventory = {
        "nodes": {name: {"facts": facts, "classes": classes,
                         "collectives": ["mcollective"]}
                  for name, (facts, classes) in NODES.items()},
        "groups": {"uk": {"filter": {"facts": ["country=uk"]}},
                   "frontends": ["web1.example.net", "web2.example.net"]},
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    find = ok(fleet.mco("find", "--dm", "inventory", "--do", str(path), "-S",
                        "role=web and cpus>8"))
    assert lines(find) == ["web2.example.net"]
    replies = rpc_json(fleet, "rpcutil", "ping", "--dm", "inventory", "--do", str(path),
                       "-I", "group:uk")
    assert senders(replies) == ["db1.example.net", "web1.example.net"]
    both = rpc_json(fleet, "rpcutil", "ping", "--dm", "inventory", "--do", str(path),
                    "-I", "group:frontends", "-C", "apache", "-F", "os.family=RedHat")
    assert senders(both) == ["web2.example.net"]
    bad = fleet.mco("find", "--dm", "inventory", "--do", str(path), "-I", "group:nope")
    assert bad.returncode == 1 and "no group 'nope'" in bad.stderr


def test_capabilities_are_checked(fleet: LocalCollective, tmp_path: Path) -> None:
    path = tmp_path / "nodes.txt"
    path.write_text("web1.example.net\n")
    proc = fleet.mco("rpc", "rpcutil", "ping", "--nodes", str(path), "-C", "apache")
    assert proc.returncode == 1 and "flatfile discovery method cannot use -C" in proc.stderr
    forced = ok(fleet.mco("find", "--nodes", str(path), "-S", "mysql", "-v"))
    assert lines(forced) == ["db1.example.net"] and "using the mc discovery" in forced.stderr


# --- the applications -----------------------------------------------------------------------


def test_inventory_reports(fleet: LocalCollective, tmp_path: Path) -> None:
    lc = ok(fleet.mco("inventory", "--list-collectives"))
    assert lc.stdout.splitlines()[2].split() == ["mcollective", "4"]
    assert "Total nodes: 4" in lc.stdout
    script = tmp_path / "report.py"
    script.write_text('format = "{identity} {facts[os.family]} {facts[os.release.major]}"\n')
    report = ok(fleet.mco("inventory", "--script", str(script), "-F", "country=uk"))
    assert report.stdout.splitlines() == ["db1.example.net Debian 11",
                                          "web1.example.net Debian 12"]


def test_describe_filter(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("describe-filter", "-S", "apache and fact('os.family')=Debian",
                        "-I", "web1.example.net"))
    assert "    has class 'apache'" in proc.stdout
    assert "    and data fact('os.family') (default output) equals 'Debian'" in proc.stdout
    assert "identity is 'web1.example.net'" in proc.stdout


def test_facts_lists_nodes_per_value(fleet: LocalCollective) -> None:
    proc = ok(fleet.mco("facts", "os.family", "-v"))
    assert "Alpine  found 1 times" in proc.stdout
    assert "            edge1.example.net" in proc.stdout
