"""``mco broker``: what it prints for a layout, and one-line errors for a bad one. The
set-ups themselves are applied to real brokers in test_kombu_redis_acl.py and the
repository's tests/test_broker_accounts.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from mcollective.accounts import parse_layout
from mcollective_connector_kombu.accounts import rabbitmq_setup

LAYOUT = {"vhost": "/v", "collectives": ["main", "uk"],
          "nodes": [{"account": "web1", "identities": ["web1.example.net"]}],
          "clients": [{"account": "alice", "collectives": ["uk"]}]}


def mco(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "mco"), "broker", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_definitions_are_the_durable_topic_exchanges(tmp_path: Path) -> None:
    (tmp_path / "layout.yaml").write_text(yaml.safe_dump(LAYOUT))
    proc = mco("rabbitmq", str(tmp_path / "layout.yaml"), "--definitions")
    assert proc.returncode == 0, proc.stderr
    exchanges = json.loads(proc.stdout)["exchanges"]
    assert {e["name"] for e in exchanges} == {"mcollective_reply", "main.broadcast",
                                              "main.directed", "uk.broadcast",
                                              "uk.directed"}
    assert all(e["durable"] and e["type"] == "topic" and e["vhost"] == "/v"
               for e in exchanges)


def test_the_script_asks_for_missing_passwords(tmp_path: Path) -> None:
    (tmp_path / "layout.yaml").write_text(yaml.safe_dump(LAYOUT))
    proc = mco("rabbitmq", str(tmp_path / "layout.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "${MCO_PASSWORD_ALICE:?" in proc.stdout
    assert "set_topic_permissions -p /v alice mcollective_reply" in proc.stdout


def test_a_bad_layout_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "layout.yaml").write_text(yaml.safe_dump(
        {"collectives": ["main"], "clients": [{"account": "al.ice"}]}))
    proc = mco("redis", str(tmp_path / "layout.yaml"))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "layout.yaml: key 'clients[0].account'" in proc.stderr


def test_patterns_cover_exactly_what_each_account_owns() -> None:
    """The regular expressions, checked as RabbitMQ would (whole-name match)."""
    setup = rabbitmq_setup(parse_layout(LAYOUT))
    node, alice = setup.accounts

    def allows(pattern: str, name: str) -> bool:
        return re.search(pattern, name) is not None

    assert allows(node.configure, "uk.node.web1.example.net")
    assert not allows(node.configure, "uk.node.web1.example.netx")
    assert not allows(node.configure, "uk.node.web2.example.net")
    assert not allows(node.write, "uk.broadcast")  # no registration
    assert allows(alice.configure, "uk.reply.alice.host.1.ab")
    assert not allows(alice.configure, "uk.reply.alicex.host.1.ab")
    assert not allows(alice.configure, "main.reply.alice.host.1.ab")  # not her collective
    assert not allows(alice.write, "main.broadcast")
    assert allows(alice.write, "uk.broadcast") and allows(alice.write, "uk.directed")
    write, read = alice.topics["mcollective_reply"]
    assert write == "^$" and allows(read, "uk.reply.alice.h.1.ab")
    assert not allows(read, "uk.reply.bob.h.1.ab")
