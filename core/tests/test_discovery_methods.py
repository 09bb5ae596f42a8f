"""The list-based discovery methods on their own: node lists (text, JSON, YAML), the
flatfile, stdin and inventory methods, stdin auto-detection, capabilities."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcollective.config import config_from_text
from mcollective.discovery import (
    DiscoveryError,
    DiscoveryRequest,
    filter_kinds,
    select_identities,
)
from mcollective.discovery_methods import (
    FlatfileDiscovery,
    InventoryDiscovery,
    MCDiscovery,
    StdinDiscovery,
    parse_node_list,
    piped_stdin,
)
from mcollective.discovery_methods.inventory import parse_inventory
from mcollective.discovery_methods.nodelist import detect_format
from mcollective.filters import Filter


def request(flt: Filter | None = None, *options: str, stdin: Any = None,
            collective: str = "mcollective", config: Any = None) -> DiscoveryRequest:
    return DiscoveryRequest(session=None, filter=flt or Filter(), collective=collective,
                            timeout=0, window=0.3, options=list(options), stdin=stdin,
                            config=config, own_agent="rpcutil")


# --- node lists -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("web1\n\n# a comment\ndb1   # trailing comment\n  web2  \nweb1\n", ["web1", "db1", "web2"]),
    ('["web1", "db1.example.net"]', ["web1", "db1.example.net"]),
    ('[{"sender": "web1", "statuscode": 0}, {"certname": "db1"}, {"identity": "x"}]',
     ["web1", "db1", "x"]),
    ('{"agent": "rpcutil", "replies": [{"sender": "a"}, {"sender": "b"}]}', ["a", "b"]),
    ('{"nodes": ["a"]}', ["a"]),
    ("- web1\n- db1\n", ["web1", "db1"]),
    ("---\n- name: web1\n- sender: db1\n", ["web1", "db1"]),
    ("", []),
    ("# only comments\n", []),
    ("[]", []),
])
def test_parse_node_list(text: str, expected: list[str]) -> None:
    assert parse_node_list(text, source="test") == expected


@pytest.mark.parametrize(("text", "fmt", "message"), [
    ("web1\nbad name\n", "auto", "test line 2: 'bad name' is not a valid node identity"),
    ('["ok", "not/ok"]', "auto", "item 2"),
    ('[{"status": 1}]', "auto", "needs one of sender, certname"),
    ('{"x": 1}', "auto", "expected a list of nodes"),
    ('"web1"', "json", "expected a list of nodes"),
    ("[nope", "json", "not valid JSON"),
    ("- [unclosed", "yaml", "not valid YAML"),
    ("web1", "xml", "unknown node list format"),
    ("[1, 2]", "auto", "1 is not a valid node identity"),
])
def test_parse_node_list_errors(text: str, fmt: str, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        parse_node_list(text, source="test", format=fmt)


def test_explicit_text_format_does_not_sniff() -> None:
    with pytest.raises(DiscoveryError):
        parse_node_list("[web1]", source="t", format="text")
    assert parse_node_list("- x", source="t", format="yaml") == ["x"]


@pytest.mark.parametrize(("text", "fmt"), [
    ("  [1]", "json"), ("{}", "json"), ("# hi\n- a", "yaml"), ("---\n", "yaml"),
    ("web1", "text"), ("", "text"), ("a-b\n", "text"),
])
def test_detect_format(text: str, fmt: str) -> None:
    assert detect_format(text) == fmt


def test_select_identities_applies_literal_and_regex_entries() -> None:
    nodes = ["web1", "web2", "db1", "web1"]
    assert select_identities(nodes, Filter()) == ["web1", "web2", "db1"]
    assert select_identities(nodes, Filter(identities=["db1", "/^web2/"])) == ["web2", "db1"]


def test_filter_kinds_ignore_the_clients_own_agent() -> None:
    flt = Filter.build(agents=["rpcutil", "mcollective"], identities=["a"])
    assert filter_kinds(flt, own_agent="rpcutil") == {"identity"}
    flt = Filter.build(facts=["a=1"], classes=["x"], agents=["puppet"], compound=["y"])
    assert filter_kinds(flt, own_agent="rpcutil") == {"facts", "classes", "agents",
                                                       "compound"}


@pytest.mark.parametrize("method", [FlatfileDiscovery(), StdinDiscovery()])
@pytest.mark.parametrize(("flt", "option"), [
    (Filter.build(facts=["a=1"]), "-F"), (Filter.build(classes=["x"]), "-C"),
    (Filter.build(agents=["puppet"]), "-A"), (Filter.build(compound=["x"]), "-S"),
])
def test_list_methods_refuse_other_filter_kinds(method: Any, flt: Filter, option: str
                                                ) -> None:
    with pytest.raises(DiscoveryError, match=f"cannot use {option}"):
        method.check_filter(flt, own_agent="rpcutil")
    method.check_filter(Filter.build(identities=["/x/"], agents=["rpcutil"]),
                        own_agent="rpcutil")


def test_capabilities_and_addressing_of_the_builtin_methods() -> None:
    assert MCDiscovery.broadcast and MCDiscovery.capabilities == InventoryDiscovery.capabilities
    for cls in (FlatfileDiscovery, StdinDiscovery, InventoryDiscovery):
        assert not cls.broadcast and cls.default_timeout == 0


def test_option_map() -> None:
    req = request(None, "nodes.txt", "format=json")
    assert req.option_map(positional="file", known=("file", "format")) == {
        "file": "nodes.txt", "format": "json"}
    # An unknown key with '=' in a path is the positional value after all.
    assert request(None, "/tmp/a=b").option_map(positional="file", known=("file",)) == {
        "file": "/tmp/a=b"}
    with pytest.raises(DiscoveryError, match="unknown discovery option 'x'"):
        request(None, "x=1").option_map(known=("file",))
    with pytest.raises(DiscoveryError, match="key=value"):
        request(None, "bare").option_map(known=("file",))


# --- flatfile -------------------------------------------------------------------------------


def test_flatfile_formats_by_suffix_and_content(tmp_path: Path) -> None:
    method = FlatfileDiscovery()
    text = tmp_path / "nodes"
    text.write_text("a\nb # two\n")
    assert method.discover(request(None, str(text))) == ["a", "b"]
    js = tmp_path / "nodes.json"
    js.write_text(json.dumps([{"sender": "a"}, "b"]))
    assert method.discover(request(None, f"file={js}")) == ["a", "b"]
    ym = tmp_path / "nodes.yml"
    ym.write_text(yaml.safe_dump(["c", "d"]))
    assert method.discover(request(None, str(ym))) == ["c", "d"]
    forced = tmp_path / "list.txt"
    forced.write_text('["e"]')
    assert method.discover(request(None, str(forced), "format=json")) == ["e"]


def test_flatfile_applies_identity_filters(tmp_path: Path) -> None:
    path = tmp_path / "nodes.txt"
    path.write_text("web1\nweb2\ndb1\n")
    flt = Filter.build(identities=["/^web/", "db1"], agents=["rpcutil"])
    assert FlatfileDiscovery().discover(request(flt, str(path))) == ["web1", "web2", "db1"]
    flt = Filter.build(identities=["/2$/"])
    assert FlatfileDiscovery().discover(request(flt, str(path))) == ["web2"]


def test_flatfile_errors(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="needs a file"):
        FlatfileDiscovery().discover(request())
    with pytest.raises(DiscoveryError, match="cannot read node list"):
        FlatfileDiscovery().discover(request(None, str(tmp_path / "missing")))
    bad = tmp_path / "bad.txt"
    bad.write_text("ok\nweb1.example.net,\n")
    with pytest.raises(DiscoveryError, match=r"bad\.txt line 2"):
        FlatfileDiscovery().discover(request(None, str(bad)))
    with pytest.raises(DiscoveryError, match="unknown node list format"):
        FlatfileDiscovery().discover(request(None, str(bad), "format=csv"))


# --- stdin ----------------------------------------------------------------------------------


def test_stdin_method_reads_text_or_mco_json() -> None:
    method = StdinDiscovery()
    assert method.discover(request(stdin="a\nb\n")) == ["a", "b"]
    replies = json.dumps([{"sender": "x", "statuscode": 0}, {"sender": "y", "statuscode": 1}])
    assert method.discover(request(stdin=io.StringIO(replies))) == ["x", "y"]
    assert method.discover(request(Filter.build(identities=["y"]), stdin=replies)) == ["y"]
    with pytest.raises(DiscoveryError, match="not valid JSON"):
        method.discover(request(None, "json", stdin="a\n"))
    with pytest.raises(DiscoveryError, match="unknown stdin format"):
        method.discover(request(None, "csv", stdin="a\n"))


def test_stdin_method_refuses_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    with pytest.raises(DiscoveryError, match="it is a terminal"):
        StdinDiscovery().discover(request(stdin=Tty()))


def _pipe() -> tuple[Any, int]:
    read_fd, write_fd = os.pipe()
    return os.fdopen(read_fd, "r"), write_fd


def test_piped_stdin_with_data() -> None:
    reader, write_fd = _pipe()
    os.write(write_fd, b"web1\nweb2\n")
    os.close(write_fd)
    with reader:
        assert piped_stdin(reader) == "web1\nweb2\n"


def test_piped_stdin_waits_for_a_slow_upstream() -> None:
    reader, write_fd = _pipe()

    def later() -> None:
        time.sleep(0.2)
        os.write(write_fd, b"web1\n")
        os.close(write_fd)

    thread = threading.Thread(target=later)
    thread.start()
    with reader:
        assert piped_stdin(reader, wait=10) == "web1\n"
    thread.join()


def test_piped_stdin_empty_pipe_is_not_a_node_list() -> None:
    """Choria #1147: cron gives an empty, closed pipe; that must not select stdin."""
    reader, write_fd = _pipe()
    os.close(write_fd)
    with reader:
        assert piped_stdin(reader) is None
    reader, write_fd = _pipe()
    os.write(write_fd, b"  \n\n")
    os.close(write_fd)
    with reader:
        assert piped_stdin(reader) is None


def test_piped_stdin_open_pipe_without_data_is_an_error_not_a_guess() -> None:
    reader, write_fd = _pipe()
    notices: list[str] = []
    try:
        with reader, pytest.raises(DiscoveryError, match=r"nothing arrived within 0\.2s"):
            piped_stdin(reader, wait=0.2, notify=notices.append)
    finally:
        os.close(write_fd)
    assert notices and "--dm mc" in notices[0]


def test_piped_stdin_devices_files_and_replaced_streams(tmp_path: Path) -> None:
    with open(os.devnull) as devnull:
        assert piped_stdin(devnull) is None
    path = tmp_path / "nodes.txt"
    path.write_text("a\n")
    with open(path) as fh:
        assert piped_stdin(fh) == "a\n"
    path.write_text("")
    with open(path) as fh:
        assert piped_stdin(fh) is None
    assert piped_stdin(io.StringIO("a\n")) is None  # no file descriptor: not a pipe


# --- inventory ------------------------------------------------------------------------------

INVENTORY: dict[str, Any] = {
    "nodes": {
        "web1.example.net": {"facts": {"country": "uk", "os": {"family": "Debian"}},
                             "classes": ["apache"], "agents": ["rpcutil", "package"],
                             "collectives": ["mcollective", "uk"]},
        "web2.example.net": {"facts": {"country": "de"}, "classes": ["apache"],
                             "agents": ["rpcutil"]},
        "db1.example.net": {"facts": {"country": "uk", "cpus": 32}, "classes": ["mysql"],
                            "collectives": ["mcollective"]},
        "edge1.example.net": None,
    },
    "groups": {
        "web": ["web1.example.net", "web2.example.net"],
        "uk": {"filter": {"facts": ["country=uk"]}},
        "big": {"filter": {"compound": "cpus>16"}},
        "listed": {"nodes": ["db1.example.net"]},
    },
}

CHORIA_LAYOUT: dict[str, Any] = {
    "$schema": "https://choria.io/schemas/choria/discovery/v1/inventory_file.json",
    "nodes": [{"name": name, **(body or {})} for name, body in INVENTORY["nodes"].items()],
    "groups": [{"name": "uk", "filter": {"fact": ["country=uk"], "agent": []}},
               {"name": "web", "nodes": ["web1.example.net", "web2.example.net"]}],
}


def inventory_file(tmp_path: Path, data: Any = INVENTORY, name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    text = json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def find(path: Path, collective: str = "mcollective", **filters: Any) -> list[str]:
    agents = filters.pop("agents", [])
    flt = Filter.build(agents=["rpcutil", *agents], **filters)
    return InventoryDiscovery().discover(request(flt, str(path), collective=collective))


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, ["web1.example.net", "web2.example.net", "db1.example.net", "edge1.example.net"]),
    ({"facts": ["country=uk"]}, ["web1.example.net", "db1.example.net"]),
    ({"facts": ["os.family=Debian"]}, ["web1.example.net"]),
    ({"classes": ["/^apa/"]}, ["web1.example.net", "web2.example.net"]),
    ({"agents": ["package"]}, ["web1.example.net", "db1.example.net", "edge1.example.net"]),
    ({"identities": ["/^web/"]}, ["web1.example.net", "web2.example.net"]),
    ({"identities": ["group:web"]}, ["web1.example.net", "web2.example.net"]),
    ({"identities": ["group:uk", "web2.example.net"]},
     ["web1.example.net", "web2.example.net", "db1.example.net"]),
    ({"identities": ["group:big"]}, ["db1.example.net"]),
    ({"identities": ["group:listed"]}, ["db1.example.net"]),
    ({"identities": ["group:web"], "facts": ["country=uk"]}, ["web1.example.net"]),
    ({"compound": ["apache and not country=de"]}, ["web1.example.net"]),
    ({"compound": ["cpus>=32 or mysql"]}, ["db1.example.net"]),
    ({"compound": ["with('apache') and not with('country=de')"]}, ["web1.example.net"]),
    ({"with_": ["apache country=de"]}, ["web2.example.net"]),
])
def test_inventory_evaluates_every_filter_kind(tmp_path: Path, filters: dict[str, Any],
                                               expected: list[str]) -> None:
    assert find(inventory_file(tmp_path), **filters) == expected


def test_inventory_collectives(tmp_path: Path) -> None:
    path = inventory_file(tmp_path)
    # Nodes that list collectives must be members; those that do not are assumed to be.
    assert find(path, collective="uk") == ["web1.example.net", "web2.example.net",
                                           "edge1.example.net"]


@pytest.mark.parametrize("compound", ["fstat('/etc/hosts').present=1",
                                      "not fstat('/etc/hosts').present=1",
                                      "apache or fact('country') == 'uk'"])
def test_inventory_refuses_data_functions(tmp_path: Path, compound: str) -> None:
    # The file cannot answer a data function; matching nothing would look like "no such
    # nodes". Refused, naming the function.
    with pytest.raises(DiscoveryError, match=r"\(\) cannot be evaluated from an inventory "
                       "file"):
        find(inventory_file(tmp_path), compound=[compound])


def test_inventory_choria_agents_as_objects(tmp_path: Path) -> None:
    # go-choria's inventory files list each agent as {name, version}.
    data = {"nodes": [{"name": "n1", "agents": [{"name": "rpcutil", "version": "1.0"},
                                                {"name": "package", "version": "5.3"}]},
                      {"name": "n2", "agents": [{"name": "rpcutil", "version": "1.0"}]}]}
    assert find(inventory_file(tmp_path, data), agents=["package"]) == ["n1"]
    data["nodes"][1]["agents"] = [{"version": "1.0"}]
    with pytest.raises(DiscoveryError, match=r"nodes\[1\]\.agents: must be a list of agent "
                       "names or of"):
        parse_inventory(data, "inv.yaml")


def test_inventory_choria_groups_name_only_and_with(tmp_path: Path) -> None:
    data = {"$schema": "https://choria.io/schemas/choria/discovery/v1/inventory_file.json",
            "groups": [{"name": "all"},
                       {"name": "uk_web",
                        "filter": {"compound": "with('country=uk') and with('/^apa/')"}},
                       {"name": "empty", "filter": None}],
            "nodes": CHORIA_LAYOUT["nodes"]}
    path = inventory_file(tmp_path, data)
    everyone = find(path)
    assert find(path, identities=["group:all"]) == everyone
    assert find(path, identities=["group:empty"]) == everyone
    assert find(path, identities=["group:uk_web"]) == ["web1.example.net"]
    data["groups"] = [{"name": "bad", "filter": {"compound": "include(agents, 'x')"}}]
    with pytest.raises(DiscoveryError, match=r"(?s)groups\[0\]\.filter: .*Choria's expression "
                       "language"):
        parse_inventory(data, "inv.yaml")
    data["groups"] = [{"name": "bad", "filter": {"compound": "fact('country') == 'uk'"}}]
    with pytest.raises(DiscoveryError, match=r"groups\[0\]\.filter: fact\(\) cannot be "
                       "evaluated"):
        parse_inventory(data, "inv.yaml")


def test_inventory_choria_layout_and_json(tmp_path: Path) -> None:
    path = inventory_file(tmp_path, CHORIA_LAYOUT, "inv.json")
    assert find(path, identities=["group:uk"]) == ["web1.example.net", "db1.example.net"]
    assert find(path, identities=["group:web"], classes=["apache"]) == [
        "web1.example.net", "web2.example.net"]


def test_inventory_file_from_the_configuration(tmp_path: Path) -> None:
    path = inventory_file(tmp_path)
    (tmp_path / "client.cfg").write_text("plugin.inventory.file = inv.yaml\n")
    from mcollective.config import load_config

    config = load_config(tmp_path / "client.cfg")
    flt = Filter.build(facts=["country=de"])
    assert InventoryDiscovery().discover(request(flt, config=config)) == ["web2.example.net"]
    with pytest.raises(DiscoveryError, match="needs a file"):
        InventoryDiscovery().discover(request(flt, config=config_from_text("")))
    assert path.exists()


def test_inventory_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = inventory_file(tmp_path)
    method = InventoryDiscovery()
    flt = Filter.build(facts=["country=fr"])
    assert method.discover(request(flt, str(path))) == []
    changed = json.loads(json.dumps(INVENTORY))
    changed["nodes"]["new1"] = {"facts": {"country": "fr"}, "classes": ["filler", "x"]}
    path.write_text(yaml.safe_dump(changed, sort_keys=False))
    assert method.discover(request(flt, str(path))) == ["new1"]


@pytest.mark.parametrize(("data", "message"), [
    (["a"], "an inventory is a mapping"),
    ({"nodes": "web1"}, "'nodes' must be a mapping or a list"),
    ({"nodes": {"bad name": {}}}, "'bad name' is not a valid node identity"),
    ({"nodes": [{"facts": {}}]}, r"nodes\[0\]: a node needs a 'name'"),
    ({"nodes": {"a": {"facts": []}}}, "nodes.a: 'facts' must be a mapping"),
    ({"nodes": {"a": {"classes": "x"}}}, "nodes.a.classes: must be a list of strings"),
    ({"groups": {"g": "x"}}, "groups.g: a group is a list of identities"),
    ({"groups": [{"filter": {}}]}, r"groups\[0\]: a group needs a 'name'"),
    ({"groups": {"g": {"filter": {"factz": ["a=1"]}}}}, "unknown key 'factz'"),
    ({"groups": {"g": {"filter": {"facts": ["a=="]}}}}, "groups.g.filter"),
    ({"groups": {"g": {"filter": {"identities": ["group:h"]}}}}, "cannot refer to other"),
    ({"groups": {"g": ["ok", "not ok"]}}, "not a valid node identity"),
])
def test_inventory_errors_name_the_entry(data: Any, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        parse_inventory(data, "inv.yaml")


def test_inventory_unknown_group_and_unreadable_file(tmp_path: Path) -> None:
    path = inventory_file(tmp_path)
    with pytest.raises(DiscoveryError, match=r"no group 'nope' \(groups: big, listed, uk, web"):
        find(path, identities=["group:nope"])
    with pytest.raises(DiscoveryError, match="cannot read inventory"):
        find(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("nodes: [unclosed")
    with pytest.raises(DiscoveryError, match="cannot parse the inventory"):
        find(broken)


def test_inventory_reads_what_the_registration_agent_writes(tmp_path: Path) -> None:
    """The registration receiver keeps the file the inventory method reads."""
    from mcollective.inventory_file import write_inventory

    path = tmp_path / "fleet.yaml"
    write_inventory(path, {"n1": {"facts": {"role": "db"}, "classes": [], "agents": ["rpcutil"],
                                  "collectives": ["mcollective"]}},
                    {"dbs": ["n1"]})
    assert find(path, identities=["group:dbs"], facts=["role=db"]) == ["n1"]
