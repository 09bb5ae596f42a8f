"""The ``discovery`` agent: every node whose filter matches answers a discovery ping."""

from __future__ import annotations

import time

from mcollective.agent import Agent, AgentReply, AgentRequest


class Discovery(Agent):
    """Answers discovery requests; the filter check before dispatch does the real work."""

    agent_name = "discovery"
    inline_actions = frozenset({"ping"})

    def ping(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["pong"] = time.time()
