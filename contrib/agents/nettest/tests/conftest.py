"""Fixtures for the nettest agent tests: the agent built the way the daemon builds it,
and a ``call`` helper that validates the request against the DDL first, as the daemon
does before an action runs."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcollective.agent import AgentReply
from mcollective.testing.agents import build_agent, run_action
from mcollective_agent_nettest import Nettest


@pytest.fixture
def make_agent(tmp_path: Path) -> Callable[..., Nettest]:
    def make(settings: str = "") -> Nettest:
        return build_agent(Nettest, tmp_path / "state", settings)

    return make


@pytest.fixture
def call() -> Callable[..., AgentReply]:
    """``call(agent, action, **inputs)``: validate like the daemon, then run."""
    return run_action


@pytest.fixture
def listener() -> Iterator[int]:
    """A listening TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]
