"""``mco ping``: which nodes answer, and how fast."""

from __future__ import annotations

import argparse
import time

from mcollective import phases
from mcollective.cli.application import Application
from mcollective.client.results import silent_nodes
from mcollective.discovery import collect_adaptively, collect_expected


class Ping(Application):
    name = "ping"
    description = "Ping all nodes"
    epilog = ("Sends one discovery request carrying the filters; every matching node\n"
              "answers. The wait ends shortly after the last reply (--discovery-window)\n"
              "or at --timeout. With a node list (--nodes, --dm stdin, --dm inventory)\n"
              "each listed node is pinged directly, so the silent ones are listed.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--expect", type=int, metavar="N",
                            help="stop as soon as N nodes answered")

    def main(self, args: argparse.Namespace) -> int:
        client = self.rpcclient("discovery")
        client.use_discovery_cache = args.timeout is None and args.expect is None
        session = self.session
        timeout = args.timeout if args.timeout is not None else \
            client.effective_discovery_timeout() or 2.0
        window = client.effective_discovery_window()
        listed: list[str] | None = None
        if not client.method.broadcast:
            listed = client.discover()
            if not listed:
                self.err.print("No request sent, we did not discover any nodes.",
                               markup=False)
                return 1
        session.connect()
        mark = session.link_mark()
        flt = client.filter.to_dict()
        if listed is not None:
            flt["identity"] = []  # addressed directly: the addressing is the identity test
        request = session.new_request("discovery", "ping", filter=flt,
                                      collective=client.collective, ttl=args.ttl)
        replies = session.expect(request.id)
        sent = time.monotonic()
        session.publish(request, targets=listed)
        phases.mark("rpc_publish")
        expect = args.expect if args.expect is not None else (
            len(listed) if listed is not None else None)
        times: list[float] = []
        seen: set[str] = set()
        # The nodes that answered the last broadcast with this filter, if fresh: the
        # wait ends once they all answered plus a grace for newcomers, or at the idle
        # window, whichever comes first (never later than without them).
        cached = client.cached_discovery() if listed is None else None
        if cached is not None:
            collected = collect_expected(replies, started=sent, timeout=timeout,
                                         window=window, expected=set(cached[0]))
        else:
            collected = collect_adaptively(replies, started=sent, timeout=timeout,
                                           window=window, limit=expect)
        for reply, elapsed in collected:
            phases.mark("rpc_reply")
            seen.add(reply.sender)
            times.append(elapsed * 1000)
            self.out.print(f"{reply.sender:<40} time={elapsed * 1000:.2f} ms", markup=False)
        phases.mark("rpc_end")
        session.forget(request.id)
        if listed is None and expect is None and not session.link_trouble(mark):
            client.remember_discovery(sorted(seen))
        self.out.print()
        self.out.print("---- ping statistics ----")
        silent = sorted(set(listed or ()) - seen)
        if times:
            self.out.print(f"{len(times)} replies max: {max(times):.2f} min: {min(times):.2f} "
                           f"avg: {sum(times) / len(times):.2f}")
        else:
            self.out.print("No responses received")
        if silent:
            self.out.print()
            self.out.print("No response from:", markup=False)
            for name in silent:
                self.out.print(f"   {name}", markup=False)
        trouble = session.link_trouble(mark)
        if trouble:
            # Replies sent while the connection was down are lost: the list above may
            # be short, and only this line says why.
            if listed is not None and silent:
                gap = silent_nodes(silent, len(listed))
            elif listed is not None:
                gap = "every node answered nevertheless"
            else:
                gap = f"{len(times)} node(s) answered; replies sent meanwhile were lost"
            self.out.file.flush()
            self.err.print(f"mco {self.name}: {trouble} during the ping; {gap}",
                           markup=False, style="red")
            self.link_reported = True
            return 1 if silent or listed is None else 0
        return 0 if times else 1
