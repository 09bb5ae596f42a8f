"""``mco ping``: which nodes answer, and how fast."""

from __future__ import annotations

import argparse
import queue
import time

from mcollective.cli.application import Application


class Ping(Application):
    name = "ping"
    description = "Ping all nodes"
    epilog = ("Sends one discovery request carrying the filters; every matching node\n"
              "answers. The wait ends shortly after the last reply (or at --timeout).")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--expect", type=int, metavar="N",
                            help="stop as soon as N nodes answered")

    def main(self, args: argparse.Namespace) -> int:
        client = self.rpcclient("discovery")
        session = self.session
        session.connect()
        timeout = args.timeout if args.timeout is not None else \
            client.effective_discovery_timeout()
        window = self.config.discovery_window
        request = session.new_request("discovery", "ping", filter=client.filter.to_dict(),
                                      collective=client.collective, ttl=args.ttl)
        replies = session.expect(request.id)
        sent = time.monotonic()
        session.publish(request)
        deadline, last = sent + timeout, None
        times: list[float] = []
        seen: set[str] = set()
        while args.expect is None or len(seen) < args.expect:
            now = time.monotonic()
            wait = deadline - now if last is None else min(deadline, last + window) - now
            if wait <= 0:
                break
            try:
                reply = replies.get(timeout=wait)
            except queue.Empty:
                break
            last = time.monotonic()
            if reply.sender in seen:
                continue
            seen.add(reply.sender)
            ms = (last - sent) * 1000
            times.append(ms)
            self.out.print(f"{reply.sender:<40} time={ms:.2f} ms", markup=False)
        session.forget(request.id)
        self.out.print()
        self.out.print("---- ping statistics ----")
        if times:
            self.out.print(f"{len(times)} replies max: {max(times):.2f} min: {min(times):.2f} "
                           f"avg: {sum(times) / len(times):.2f}")
            return 0
        self.out.print("No responses received")
        return 1
