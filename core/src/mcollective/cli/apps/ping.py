"""``mco ping``: which nodes answer, and how fast."""

from __future__ import annotations

import argparse
import time

from mcollective import phases
from mcollective.cli import options
from mcollective.cli.application import Application
from mcollective.client.results import EXIT_SILENT_NODES, silent_nodes
from mcollective.discovery import collect_adaptively, collect_expected


class Ping(Application):
    name = "ping"
    description = "Ping all nodes"
    epilog = ("Sends one discovery request carrying the filters; every matching node\n"
              "answers. The wait ends shortly after the last reply (--discovery-window)\n"
              "or at --timeout. With a node list (--nodes, --dm stdin, --dm inventory)\n"
              "each listed node is pinged directly, so the silent ones are listed.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--expect", type=options._positive_int, metavar="N",
                            help="stop as soon as N nodes answered (fewer: exit code 5)")
        parser.add_argument("-g", "--graph", action="store_true",
                            help="draw how the response times spread (one character per "
                                 "50 ms, or wider to fit 60 characters); also the "
                                 "plugin.rpc.graph setting")

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
                                         window=window,
                                         expected={*cached.nodes, *cached.lost})
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
            if args.graph or self.graph_setting():
                line, step = sparkline(times)
                self.out.print(line, markup=False)
                self.out.print(f"(0 to {len(line) * step:g} ms, {step:g} ms per character)",
                               markup=False, style="dim")
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
        if not times:
            return 1
        if silent or (args.expect is not None and len(times) < args.expect):
            return EXIT_SILENT_NODES  # nodes that were expected to answer did not
        return 0


    def graph_setting(self) -> bool:
        """MCollective's ``plugin.rpc.graph`` setting: ``--graph`` on every ping."""
        from mcollective.config import boolean

        values = self.config.plugin_config("rpc", {"graph": boolean}, allow_unknown=True)
        return bool(values.get("graph", False))


#: The characters of a sparkline, lowest to highest.
TICKS = "▁▂▃▄▅▆▇█"


def sparkline(times_ms: list[float], *, bucket: float = 50.0, width: int = 60
              ) -> tuple[str, float]:
    """MCollective's ``--graph``: how many replies came in each ``bucket`` ms from 0 to
    the slowest, one character per bucket (buckets grow to fit ``width``); an empty
    bucket is the lowest tick, the fullest the highest. Returns the line and the
    bucket size used."""
    slowest = max(times_ms, default=0.0)
    step = bucket
    while slowest / step >= width:
        step *= 2
    counts = [0] * (int(slowest // step) + 1)
    for value in times_ms:
        counts[min(int(value // step), len(counts) - 1)] += 1
    most = max(counts) or 1
    return "".join(TICKS[c * (len(TICKS) - 1) // most] for c in counts), step
