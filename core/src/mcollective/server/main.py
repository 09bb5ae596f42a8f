"""``mcollectived``: run a node.

Foreground by default (for systemd and containers); ``--daemonize`` forks into the
background. The pid file is written once the node is connected and subscribed, so its
appearance means "ready", and it is held under a lock so two daemons can never share it.

``--emulate N`` serves N emulated node identities from this one process (see
:mod:`mcollective.server.emulator`), to measure large collectives on one machine.

Signals: TERM/INT stop gracefully (running actions get up to ``soft_shutdown_timeout``
seconds), HUP reloads configuration, facts and agents, USR2 cycles the log level.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO

from mcollective import __version__
from mcollective.config import Config, load_config
from mcollective.errors import MCollectiveError
from mcollective.log import cycle_level, setup_logging

log = logging.getLogger("mcollective.server")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mcollectived", description="The mcollective node daemon.")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="configuration file (default: /etc/puppetlabs/mcollective/"
                             "server.cfg, /etc/mcollective/server.cfg, else built-in defaults)")
    parser.add_argument("-p", "--pidfile", metavar="FILE",
                        help="write the pid here once ready (locked while running)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--daemonize", dest="daemonize", action="store_true", default=None,
                       help="fork into the background")
    group.add_argument("--no-daemonize", dest="daemonize", action="store_false",
                       help="stay in the foreground (the default)")
    parser.add_argument("--loglevel", choices=["debug", "info", "warn", "error", "fatal"],
                        help="override the configured log level")
    parser.add_argument("--emulate", type=_count, metavar="N",
                        help="serve N emulated node identities (<identity>-NNNN, varied "
                             "facts) from this one process over shared connections, to "
                             "measure large collectives on one machine")
    parser.add_argument("--emulate-offset", type=_count, default=0, metavar="K",
                        help="number the emulated identities from K (several emulator "
                             "processes then form one collective)")
    parser.add_argument("--version", action="version", version=f"mcollectived {__version__}")
    return parser.parse_args(argv)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


class PidFile:
    """A pid file held under an exclusive lock for the daemon's lifetime."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held open on purpose
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            other = fh.read().strip() or "unknown"
            fh.close()
            raise MCollectiveError(
                f"pid file {self.path} is locked: mcollectived is already running "
                f"(pid {other})") from None
        self._fh = fh

    def write(self) -> None:
        assert self._fh is not None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"{os.getpid()}\n")
        self._fh.flush()

    def release(self) -> None:
        if self._fh is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            self._fh.close()
            self._fh = None


def daemonize() -> None:
    """Classic double fork; stdio to /dev/null. Done before any thread starts."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def run(config: Config, *, pidfile: str | None, daemon_mode: bool,
        loglevel: str | None, emulate: int = 0, emulate_offset: int = 0) -> int:
    from mcollective.server.daemon import Daemon

    logfile = None
    if daemon_mode and config.logger_type == "console":
        # A daemon has no console: log next to its state instead of into /dev/null.
        config.statedir.mkdir(parents=True, exist_ok=True)
        logfile = str(config.statedir / f"mcollectived-{config.identity}.log")
    pid = PidFile(pidfile) if pidfile else None
    if pid:
        pid.acquire()  # fail before forking, so the user sees the error
    if daemon_mode:
        if pid and pid._fh is not None:
            pid._fh.close()
            pid._fh = None
        daemonize()
        if pid:
            pid.acquire()
    setup_logging(config, level=loglevel, logfile=logfile)

    stop = threading.Event()
    reload_requested = threading.Event()

    def on_stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: object) -> None:
        reload_requested.set()

    def on_usr2(_signum: int, _frame: object) -> None:
        log.warning("log level is now %s", cycle_level())

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGUSR2, on_usr2)

    if emulate:
        from mcollective.server.emulator import EmulatedDaemon

        daemon: Daemon = EmulatedDaemon(config, emulate, offset=emulate_offset)
    else:
        daemon = Daemon(config)
    try:
        daemon.start()
    except MCollectiveError as exc:
        log.error("cannot start: %s", exc)
        if pid:
            pid.release()
        return 1
    if pid:
        pid.write()
    try:
        while not stop.is_set():
            stop.wait(0.5)
            if reload_requested.is_set():
                reload_requested.clear()
                log.info("received SIGHUP, reloading")
                try:
                    new_config = load_config(config.path, role="server") if config.path \
                        else load_config(None, role="server")
                except MCollectiveError as exc:
                    log.error("reload failed, keeping the running configuration: %s", exc)
                    continue
                daemon.reload(new_config)
    finally:
        bound = config.soft_shutdown_timeout if config.soft_shutdown else 0.0
        daemon.stop(timeout=bound)
        if pid:
            pid.release()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config, role="server")
    except MCollectiveError as exc:
        print(f"mcollectived: {exc}", file=sys.stderr)
        return 1
    daemon_mode = config.daemonize if args.daemonize is None else args.daemonize
    pidfile = args.pidfile or config.pidfile
    try:
        return run(config, pidfile=pidfile, daemon_mode=daemon_mode, loglevel=args.loglevel,
                   emulate=args.emulate or 0, emulate_offset=args.emulate_offset)
    except MCollectiveError as exc:
        print(f"mcollectived: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
