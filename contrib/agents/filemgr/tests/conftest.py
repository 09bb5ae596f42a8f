"""Fixtures for the filemgr agent tests: the agent built the way the daemon builds it,
and a ``call`` helper that validates the request against the DDL first, as the daemon
does before an action runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mcollective.agent import AgentReply
from mcollective.testing.agents import build_agent, run_action
from mcollective_agent_filemgr import Filemgr


@pytest.fixture
def make_agent(tmp_path: Path) -> Callable[..., Filemgr]:
    def make(settings: str = "") -> Filemgr:
        return build_agent(Filemgr, tmp_path / "state", settings)

    return make


@pytest.fixture
def call() -> Callable[..., AgentReply]:
    """``call(agent, action, **inputs)``: validate like the daemon, then run."""
    return run_action
