"""``mco rpc``: call any action of any agent on the matching nodes."""

from __future__ import annotations

import argparse
import re
from typing import Any

from mcollective.cli.agentapp import AgentApplication
from mcollective.errors import MCollectiveError

ARG_RE = re.compile(r"^(.+?)=(.*)$", re.S)


def _complete_words(prefix: str, parsed_args: argparse.Namespace, **kwargs: Any) -> list[str]:
    """Shell completion of agents, actions and inputs (only while completing)."""
    from mcollective.cli.completion import rpc_words

    return rpc_words(prefix, parsed_args, **kwargs)


class Rpc(AgentApplication):
    name = "rpc"
    description = "Generic RPC agent client application"
    usage = "mco rpc [options] [filters] AGENT ACTION [key=value ...]"
    option_sections = ("common", "filter", "rpc")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        words = parser.add_argument("words", nargs="*", metavar="AGENT ACTION [key=value ...]")
        words.completer = _complete_words  # type: ignore[attr-defined]  # argcomplete
        parser.add_argument("-a", "--agent", help="the agent to call")
        parser.add_argument("--action", help="the action to call")
        parser.add_argument("--arg", "--argument", dest="arguments", action="append",
                            default=[], metavar="KEY=VALUE", help="an argument (repeatable)")
        parser.add_argument("--nr", "--no-results", dest="no_results", action="store_true",
                            help="fire and forget: nodes act but do not reply, and the "
                                 "request id is printed")

    def parse_call(self, args: argparse.Namespace) -> tuple[str, str, dict[str, str]]:
        words = list(args.words)
        agent = args.agent or (words.pop(0) if words else None)
        action = args.action or (words.pop(0) if words else None)
        if not agent or not action:
            raise MCollectiveError("need an agent and an action: " + self.usage)
        raw: dict[str, str] = {}
        for item in [*words, *args.arguments]:
            match = ARG_RE.match(item)
            if not match:
                raise MCollectiveError(f"could not parse argument {item!r}: expected key=value")
            raw[match.group(1)] = match.group(2)
        return agent, action, raw

    def main(self, args: argparse.Namespace) -> int:
        agent, action, raw = self.parse_call(args)
        if not (args.no_results or args.reply_to):
            return self.call(agent, action, raw)
        client, _, data = self.prepare(agent, action, raw)
        # Nobody waits for replies here: the request id is all there is to print.
        if args.no_results:
            client.call_async(action, data)
        else:
            client.call(action, data)  # returns at once: the replies go elsewhere
        request_id = client.stats.requestid
        if not request_id:
            self.err.print("No request sent, we did not discover any nodes.",
                           markup=False)
            return 1
        where = "" if args.no_results else f" replies to {client.reply_to}"
        self.out.print(f"Request sent with id: {request_id}{where}", markup=False)
        return 0
