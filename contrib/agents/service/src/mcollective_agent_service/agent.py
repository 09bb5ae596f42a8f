"""Service control with the answers Choria's service agent gives: ``status`` is
``running`` or ``stopped``, starting a running service (or stopping a stopped one)
fails and says so, and every action reports the state it left behind.

The service manager is systemd where it runs, else OpenRC, else SysV init scripts
(:mod:`.managers`); ``plugin.service.provider`` picks one explicitly."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from mcollective.agent import Agent, AgentContext, AgentReply, AgentRequest
from mcollective.config import one_of, text
from mcollective.errors import InvalidRPCData, RPCAborted, ValidatorError

from .managers import INIT_DIR, PROVIDERS, Manager, Run, choose, failure
from .validator import service_name

#: Seconds kept back from the action's deadline so a slow service manager is cut off
#: in time for the node to say what happened.
_MARGIN = 2.0

SETTINGS: dict[str, Callable[[Any], Any]] = {
    "provider": one_of(*PROVIDERS), "init_dir": text, "activate_agent": str}


class Service(Agent):
    """Manages operating system services through systemd, OpenRC or SysV init."""

    agent_name = "service"

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        settings = self.config.plugin_config(
            "service", SETTINGS, {"provider": "auto", "init_dir": str(INIT_DIR)})
        self.provider: str = settings["provider"]
        self.init_dir = Path(settings["init_dir"])

    def status(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["status"] = self._state(request["service"], request)[0]

    def start(self, request: AgentRequest, reply: AgentReply) -> None:
        self._change(request, reply, "start", unless="running")

    def stop(self, request: AgentRequest, reply: AgentReply) -> None:
        self._change(request, reply, "stop", unless="stopped")

    def restart(self, request: AgentRequest, reply: AgentReply) -> None:
        self._change(request, reply, "restart", unless=None)

    # --- helpers ------------------------------------------------------------------------

    def _change(self, request: AgentRequest, reply: AgentReply, verb: str,
                unless: str | None) -> None:
        service = request["service"]
        before, manager = self._state(service, request)
        reply["status"] = before
        if unless is not None and before == unless:
            raise RPCAborted(f"Could not {verb} '{service}': Service is already {unless}")
        argv, env = manager.control(verb, service)
        result = self._run(request)(argv, env=env)
        if result.timed_out:
            raise RPCAborted(f"Could not {verb} '{service}': {manager.name} did not finish "
                             f"in time; it may still be working on it")
        reply["status"] = self._state(service, request)[0]
        if result.exitcode != 0:
            raise RPCAborted(f"Could not {verb} '{service}': {failure(result)}")

    def _state(self, service: str, request: AgentRequest) -> tuple[str, Manager]:
        manager = choose(self.provider, self.init_dir)
        try:
            # Again here, whatever validator the DDL resolved to: systemctl expands
            # globs, and `stop 'ng*'` must never reach it; a `/` must never reach a path.
            service_name(service)
        except ValidatorError as exc:
            raise InvalidRPCData(str(exc)) from None
        return manager.status(service, self._run(request)), manager

    def _run(self, request: AgentRequest) -> Run:
        return partial(self.run_command, request=request,
                       timeout=max(1.0, request.remaining() - _MARGIN))
