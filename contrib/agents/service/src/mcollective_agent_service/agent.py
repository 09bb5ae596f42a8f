"""Service control through systemd, with the answers Choria's service agent gives:
``status`` is ``running`` or ``stopped``, starting a running service (or stopping a
stopped one) fails and says so, and every action reports the state it left behind."""

from __future__ import annotations

import shutil

from mcollective.agent import Agent, AgentReply, AgentRequest
from mcollective.errors import InvalidRPCData, RPCAborted, ValidatorError

from .systemd import (
    RUNTIME_DIR,
    UnitState,
    control_command,
    parse_show,
    show_command,
    systemd_running,
)
from .validator import service_name

#: Seconds kept back from the action's deadline so a slow ``systemctl`` is cut off in
#: time for the node to say what happened.
_MARGIN = 2.0


class Service(Agent):
    """Manages operating system services through systemd."""

    agent_name = "service"

    def status(self, request: AgentRequest, reply: AgentReply) -> None:
        reply["status"] = self._state(request["service"], request).status

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
        before = self._state(service, request)
        reply["status"] = before.status
        if unless is not None and before.status == unless:
            raise RPCAborted(f"Could not {verb} '{service}': Service is already {unless}")
        result = self.run_command(control_command(verb, service), request=request,
                                  timeout=max(1.0, request.remaining() - _MARGIN))
        if result.timed_out:
            raise RPCAborted(f"Could not {verb} '{service}': systemctl {verb} did not finish "
                             f"in time; systemd may still be working on it")
        after = self._state(service, request)
        reply["status"] = after.status
        if result.exitcode != 0:
            raise RPCAborted(f"Could not {verb} '{service}': "
                             f"{_last_line(result.stderr) or f'exit code {result.exitcode}'}")

    def _state(self, service: str, request: AgentRequest) -> UnitState:
        self._require_systemd()
        try:
            # Again here, whatever validator the DDL resolved to: systemctl expands
            # globs, and `stop 'ng*'` must never reach it.
            service_name(service)
        except ValidatorError as exc:
            raise InvalidRPCData(str(exc)) from None
        result = self.run_command(show_command(service), request=request,
                                  timeout=max(1.0, request.remaining() - _MARGIN))
        if result.exitcode != 0:
            raise RPCAborted(f"Could not query '{service}': "
                             f"{_last_line(result.stderr) or f'exit code {result.exitcode}'}")
        state = parse_show(result.stdout)
        if not state.exists:
            raise RPCAborted(f"Could not find service '{service}': systemd has no such unit")
        return state

    @staticmethod
    def _require_systemd() -> None:
        if not systemd_running():
            raise RPCAborted(f"systemd is not running on this node ({RUNTIME_DIR} is "
                             f"missing); the service agent can only manage services "
                             f"through systemd")
        if shutil.which("systemctl") is None:
            raise RPCAborted("systemctl is not installed on this node")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
