"""``mco-federation -c federation.yaml [--pidfile FILE] [--logfile FILE]``: run a
federation broker until SIGTERM or SIGINT (see :mod:`mcollective_federation`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from mcollective.errors import MCollectiveError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mco-federation", description="forward requests between two collectives' "
        "middlewares and route the replies back (docs/federation.md)")
    parser.add_argument("-c", "--config", required=True, metavar="FILE",
                        help="the federation configuration (YAML)")
    parser.add_argument("--pidfile", metavar="FILE",
                        help="written once both middlewares are connected")
    parser.add_argument("--logfile", metavar="FILE", help="log here instead of stderr")
    parser.add_argument("--loglevel", default="info",
                        choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        filename=args.logfile, level=getattr(logging, args.loglevel.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from mcollective_federation.broker import FederationBroker
    from mcollective_federation.settings import load_settings

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        broker = FederationBroker(load_settings(args.config))
    except MCollectiveError as exc:
        print(f"mco-federation: {exc}", file=sys.stderr)
        return 1
    try:
        broker.start()
    except MCollectiveError as exc:
        print(f"mco-federation: {exc}", file=sys.stderr)
        broker.stop()
        return 1
    if args.pidfile:
        with open(args.pidfile, "w") as fh:
            fh.write(f"{os.getpid()}\n")
    try:
        stop.wait()
    finally:
        logging.getLogger(__name__).info("stopping; %s", broker.stats)
        broker.stop()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
