"""The shared machinery of agent commands (``mcollective.cli.agentapp``): word order,
the guard before changing every node, and one line per node."""

from __future__ import annotations

import argparse
import io

import pytest

from mcollective.cli.agentapp import AgentApplication, sender_pattern, split_action
from mcollective.client.results import Result
from mcollective.errors import MCollectiveError
from mcollective.plugins import make_plugin_manager

ACTIONS = ("status", "start", "stop", "restart")


@pytest.mark.parametrize(("words", "expected"), [
    (["cron", "status"], ("status", ["cron"])),
    (["status", "cron"], ("status", ["cron"])),
    (["start", "a", "b"], ("start", ["a", "b"])),
    (["a", "stop", "b"], ("stop", ["a", "b"])),
    (["status", "start"], ("status", ["start"])),  # the first word wins
])
def test_split_action_takes_either_order(words, expected) -> None:
    assert split_action(words, ACTIONS, usage="U") == expected


@pytest.mark.parametrize("words", [[], ["cron"], ["cron", "reload"], ["a", "b", "status"]])
def test_split_action_names_the_actions(words) -> None:
    with pytest.raises(MCollectiveError) as caught:
        split_action(words, ACTIONS, usage="mco service SERVICE ACTION")
    message = str(caught.value)
    assert "must be one of status, start, stop, restart" in message
    assert message.endswith("usage: mco service SERVICE ACTION")


def _app(**args: object) -> AgentApplication:
    app = AgentApplication(make_plugin_manager(), stdout=io.StringIO(), stderr=io.StringIO())
    app.args = argparse.Namespace(**{"facts": [], "classes": [], "agents": [],
                                     "identities": [], "compound": [], "with_": [],
                                     "nodes": None, "discovery_method": None, **args})
    return app


def test_changing_every_node_is_refused_without_a_terminal(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal
    with pytest.raises(MCollectiveError, match="add a filter, or -y to confirm"):
        _app().confirm_unfiltered("restart services", assume_yes=False)
    _app().confirm_unfiltered("restart services", assume_yes=True)
    _app(identities=["web1"]).confirm_unfiltered("restart services", assume_yes=False)
    _app(nodes="nodes.txt").confirm_unfiltered("restart services", assume_yes=False)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "confirmed"), [("y\n", True), ("YES\n", True),
                                                     ("n\n", False), ("", False)])
def test_a_terminal_is_asked(monkeypatch, answer: str, confirmed: bool) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    app = _app()
    if confirmed:
        app.confirm_unfiltered("remove files", assume_yes=False)
    else:
        with pytest.raises(MCollectiveError, match="not confirmed; nothing was sent"):
            app.confirm_unfiltered("remove files", assume_yes=False)
    assert "Do you really want to remove files unfiltered? (y/n):" in app.err.file.getvalue()


def test_node_lines_align_identities_and_show_failures() -> None:
    app = _app()
    results = [Result("web1", 0, "OK", {"status": "running"}, "service", "status"),
               Result("db-primary", 1, "Could not find service 'x'", {}, "service",
                      "status")]
    assert sender_pattern(results) == len("db-primary") + 3
    app.print_node_lines(results, lambda r: r.data["status"])
    assert app.out.file.getvalue().splitlines() == [
        "         web1: running",
        "   db-primary: Could not find service 'x'",
        "",
    ]
