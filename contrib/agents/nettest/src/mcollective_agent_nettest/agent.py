"""ping and connect from the nodes: "can every web server reach the database?"."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from mcollective.agent import Agent, AgentContext, AgentReply, AgentRequest
from mcollective.config import integer, number, one_of
from mcollective.errors import InvalidRPCData, RPCAborted

from .probes import (
    Address,
    parse_ping_rtt,
    ping_command,
    resolve,
    tcp_connect,
    tcp_ping,
)

SETTINGS: dict[str, Callable[[Any], Any]] = {
    "ping_method": one_of("auto", "ping", "tcp"),
    "ping_timeout": number(minimum=0.1),
    "connect_timeout": number(minimum=0.1),
    "tcp_ping_port": integer(minimum=1),
    "activate_agent": str,
}
DEFAULTS = {"ping_method": "auto", "ping_timeout": 5.0, "connect_timeout": 2.0,
            "tcp_ping_port": 7}


class Nettest(Agent):
    """Tests network reachability from the node."""

    agent_name = "nettest"

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        settings = self.config.plugin_config("nettest", SETTINGS, DEFAULTS)
        self.ping_method: str = settings["ping_method"]
        self.ping_timeout: float = settings["ping_timeout"]
        self.connect_timeout: float = settings["connect_timeout"]
        self.tcp_ping_port: int = settings["tcp_ping_port"]

    def ping(self, request: AgentRequest, reply: AgentReply) -> None:
        host = request["fqdn"]
        address = self._resolve(host)
        binary = shutil.which("ping")
        if self.ping_method == "ping" and binary is None:
            raise RPCAborted("plugin.nettest.ping_method is 'ping' but this node has no "
                             "ping program")
        if self.ping_method != "tcp" and binary is not None:
            reply["rtt"] = self._icmp(binary, host, address, request)
            return
        rtt = tcp_ping(address, self.tcp_ping_port, self._bounded(self.ping_timeout, request))
        if rtt is None:
            raise RPCAborted(f"{host} ({address.ip}) did not answer a TCP connection "
                             f"attempt on port {self.tcp_ping_port} within "
                             f"{self.ping_timeout:g} seconds")
        reply["rtt"] = round(rtt, 3)
        why = "by configuration" if self.ping_method == "tcp" else "no ping program"
        reply.statusmsg = (f"OK ({why}: rtt is the time of a TCP handshake attempt on "
                           f"port {self.tcp_ping_port}, not an ICMP echo)")

    def connect(self, request: AgentRequest, reply: AgentReply) -> None:
        host, port = request["fqdn"], request["port"]
        if not 1 <= port <= 65535:
            raise InvalidRPCData(f"port must be between 1 and 65535, got {port}")
        address = self._resolve(host)
        result = tcp_connect(address, port, self._bounded(self.connect_timeout, request))
        reply["connect"] = result.connected
        reply["connect_status"] = result.status
        reply["connect_time"] = None if result.seconds is None else round(result.seconds, 6)

    # --- helpers ------------------------------------------------------------------------

    def _icmp(self, binary: str, host: str, address: Address, request: AgentRequest
              ) -> float:
        result = self.run_command(ping_command(binary, address, self.ping_timeout),
                                  request=request, timeout=self.ping_timeout + 2)
        rtt = parse_ping_rtt(result.stdout) if result.exitcode == 0 else None
        if rtt is None:
            detail = (result.stderr or result.stdout).strip().splitlines()
            reason = f": {detail[-1]}" if detail else ""
            raise RPCAborted(f"{host} ({address.ip}) did not answer the ping{reason}")
        return rtt

    @staticmethod
    def _resolve(host: str) -> Address:
        try:
            return resolve(host)
        except OSError as exc:
            raise RPCAborted(f"Could not resolve '{host}': {exc.strerror or exc}") from None

    @staticmethod
    def _bounded(timeout: float, request: AgentRequest) -> float:
        """A probe's timeout, shortened so the node answers before its deadline."""
        return max(0.1, min(timeout, request.remaining() - 1.0))
