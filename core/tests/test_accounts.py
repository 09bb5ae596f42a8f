"""The broker-accounts layout (mcollective.accounts): what it accepts, and one-line
errors naming the file and key for what it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcollective.accounts import load_layout, parse_layout
from mcollective.errors import ConfigError


def test_a_layout_with_every_role() -> None:
    layout = parse_layout({
        "vhost": "/mco", "collectives": ["main", "uk"],
        "nodes": [{"account": "web1", "identities": "web1.example.net",
                   "registration": True}],
        "clients": [{"account": "alice", "password": "pw", "collectives": "uk"}],
        "federations": [{"account": "fed", "relays": ["uk"], "answers": ["main"]}]})
    [node] = layout.nodes
    assert node.identities == ("web1.example.net",)
    assert node.collectives == ("main", "uk")  # every collective by default
    assert node.registration and node.password is None
    assert layout.clients[0].collectives == ("uk",)
    assert layout.federations[0].relays == ("uk",)
    assert [a.account for a in layout.accounts()] == ["web1", "alice", "fed"]


@pytest.mark.parametrize(("data", "message"), [
    ({}, "collectives"),
    ({"collectives": ["main"], "nodes": [{"account": "web.1", "identities": ["x"]}]},
     "account names are letters"),
    ({"collectives": ["main"], "nodes": [{"account": "w", "identities": []}]},
     "identities"),
    ({"collectives": ["main"], "clients": [{"account": "a", "collectives": ["other"]}]},
     "not in the layout: other"),
    ({"collectives": ["main"], "clients": [{"account": "a"}, {"account": "a"}]},
     "appears twice"),
    ({"collectives": ["main"], "clients": [{"account": "a", "colectives": ["main"]}]},
     "colectives"),
    ({"collectives": ["main"], "clients": [{"account": "a", "nkey": "SUAB" + "A" * 54}]},
     "clients[0].nkey': not a NATS user's public NKEY"),
])
def test_mistakes_are_one_line_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_layout(data, "layout.yaml")
    assert message in str(error.value) and "layout.yaml" in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text("collectives: [main\nnodes: x\n")
    with pytest.raises(ConfigError, match=r"layout\.yaml:\d+: not valid YAML"):
        load_layout(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_layout(tmp_path / "missing.yaml")


def test_an_account_may_log_in_with_an_nkey() -> None:
    key = "U" + "A" * 55
    layout = parse_layout({"collectives": ["main"],
                           "clients": [{"account": "bob", "nkey": key}]})
    assert layout.clients[0].nkey == key and layout.clients[0].password is None
