"""``mco nettest ping HOST`` and ``mco nettest connect HOST PORT``: test the network
from every matching node, one line per node and the summary (the ``nettest``
application of MCollective's nettest agent)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mcollective.cli.agentapp import AgentApplication
from mcollective.errors import MCollectiveError

_USAGE = "mco nettest [OPTIONS] [FILTERS] <ping HOST | connect HOST PORT | connect HOST:PORT>"


def split_port(words: Sequence[str]) -> tuple[str, int]:
    """``HOST PORT`` or ``HOST:PORT`` (``[v6]:PORT`` for an IPv6 address)."""
    if len(words) == 2:
        host, port = words
    elif len(words) == 1 and ":" in words[0]:
        host, _, port = words[0].rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    else:
        raise MCollectiveError(f"connect needs a host and a port; usage: {_USAGE}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise MCollectiveError(f"the port must be a number from 1 to 65535, got {port!r}")
    return host, int(port)


class NettestApp(AgentApplication):
    name = "nettest"
    description = "Network tests from the nodes: ICMP echo and TCP connect"
    usage = _USAGE

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("nettest_action", choices=("ping", "connect"), metavar="ACTION",
                            help="ping or connect")
        parser.add_argument("words", nargs="+", metavar="HOST [PORT]")

    def main(self, args: argparse.Namespace) -> int:
        self.action = args.nettest_action
        if self.action == "ping":
            if len(args.words) != 1:
                raise MCollectiveError(f"ping needs one host; usage: {_USAGE}")
            inputs: dict[str, Any] = {"fqdn": args.words[0]}
        else:
            host, port = split_port(args.words)
            inputs = {"fqdn": host, "port": port}
        return self.call("nettest", self.action, inputs,
                         caption=f"{self.action} Nettest results")

    def print_results(self, results: Sequence[Any], action_ddl: Any) -> None:
        if self.action == "ping":
            self.print_node_lines(results, lambda r: f"time = {r.data.get('rtt')} ms")
        else:
            self.print_node_lines(results, _connected)


def _connected(result: Any) -> str:
    seconds = result.data.get("connect_time")
    took = "" if seconds is None else f", time = {seconds * 1000:.3f} ms"
    return f"{result.data.get('connect_status')}{took}"
