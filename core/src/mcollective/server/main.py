"""``mcollectived``: run a node.

Foreground by default (for systemd and containers); ``--daemonize`` forks into the
background and exits with the daemon's start-up status (a readiness pipe). The pid file
is written once the node is connected and subscribed, so its appearance means "ready",
and it is held under a lock so two daemons can never share it. Under systemd
(``Type=notify``) the same moment sends ``READY=1``.

The middleware need not be up: a node keeps trying to reach it (jittered back-off) for
ever, or for ``connection_timeout`` seconds when that is set, and serves once it answers.

``--emulate N`` serves N emulated node identities from this one process (see
:mod:`mcollective.server.emulator`), to measure large collectives on one machine.

Signals: TERM/INT stop gracefully (running actions get up to ``soft_shutdown_timeout``
seconds), HUP reloads the configuration file, facts and agents, USR1 reloads agents,
facts and plugins with the running configuration, USR2 cycles the log level.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import math
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO

from mcollective import __version__, systemd
from mcollective.config import Config, load_config
from mcollective.errors import MCollectiveError
from mcollective.log import check_log_target, cycle_level, setup_logging

log = logging.getLogger("mcollective.server")


def build_parser() -> argparse.ArgumentParser:
    """The command line (also the source of the ``mcollectived(1)`` manual page)."""
    parser = argparse.ArgumentParser(
        prog="mcollectived", description="The mcollective node daemon: connects to the "
        "middleware, answers the requests whose filter matches this node with its agents, "
        "and keeps trying when the middleware is down.")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="configuration file (default: /etc/puppetlabs/mcollective/"
                             "server.cfg, /etc/mcollective/server.cfg, else built-in defaults)")
    parser.add_argument("-p", "--pidfile", metavar="FILE",
                        help="write the pid here once ready (locked while running)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--daemonize", dest="daemonize", action="store_true", default=None,
                       help="fork into the background; exits 0 once the node serves (or, "
                            "after 10 s, is still waiting for its middleware), 1 if it "
                            "failed to start")
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
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


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


#: How long ``--daemonize`` waits for the node to be serving before it returns anyway
#: (0, "still connecting") when no ``connection_timeout`` is set.
DAEMONIZE_WAIT = 10.0


class StartupReport:
    """The readiness pipe of ``--daemonize``: the daemon (grandchild) writes one line,
    ``ready``, ``waiting`` (started; still connecting to the middleware) or
    ``failed <reason>``; the process the user started waits for it and exits with the
    daemon's start-up status. Without ``--daemonize`` every call does nothing."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = fd

    def send(self, line: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, (line.replace("\n", " ") + "\n").encode("utf-8"))
            os.close(self.fd)
        except OSError:
            pass
        self.fd = None


def daemonize() -> StartupReport:
    """Classic double fork, stdio to /dev/null, done before any thread starts. The
    original process does not exit at once: it waits for the daemon's start-up report
    and exits 0 only if the daemon started (see :class:`StartupReport`)."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        os._exit(_await_report(read_end))
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    return StartupReport(write_end)


def _await_report(fd: int) -> int:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if not chunk or b"\n" in chunk:
            chunks.append(chunk)
            break
        chunks.append(chunk)
    line = b"".join(chunks).decode("utf-8", "replace").strip()
    if line.startswith("ready"):
        return 0
    if line.startswith("waiting"):
        print(f"mcollectived: started{line[len('waiting'):]}; still connecting to the "
              "middleware (it keeps trying; see the log)", file=sys.stderr)
        return 0
    reason = line.removeprefix("failed").strip() or "the daemon exited while starting"
    print(f"mcollectived: {reason}", file=sys.stderr)
    return 1


class EarlyRecords(logging.Handler):
    """Holds the warnings logged while the configuration is read (a skipped line, an
    unknown plugin key), before logging is set up, so they reach the log the
    configuration chooses instead of a daemon's /dev/null stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def replay(self, to_stderr: bool = False) -> None:
        for record in self.records:
            if to_stderr:
                if logging.lastResort is not None:
                    logging.lastResort.handle(record)
            else:
                logging.getLogger(record.name).handle(record)
        self.records.clear()


def run(config: Config, *, pidfile: str | None, daemon_mode: bool,
        loglevel: str | None, emulate: int = 0, emulate_offset: int = 0,
        early: EarlyRecords | None = None) -> int:
    from mcollective.server.daemon import Daemon

    logfile = None
    if daemon_mode and config.logger_type == "console":
        # A daemon has no console: log next to its state instead of into /dev/null.
        config.statedir.mkdir(parents=True, exist_ok=True)
        logfile = str(config.statedir / f"mcollectived-{config.identity}.log")
    # Fail before forking, so the user sees the error.
    check_log_target(config, logfile)
    pid = PidFile(pidfile) if pidfile else None
    if pid:
        pid.acquire()
    report = StartupReport()
    if daemon_mode:
        if pid and pid._fh is not None:
            pid._fh.close()
            pid._fh = None
        report = daemonize()
        if pid:
            try:
                pid.acquire()
            except MCollectiveError as exc:
                report.send(f"failed {exc}")
                return 1
    try:
        setup_logging(config, level=loglevel, logfile=logfile)
        if early is not None:
            early.replay()
    except MCollectiveError as exc:
        # The log file was checked before forking; this is a directory removed since.
        report.send(f"failed {exc}")
        if pid:
            pid.release()
        raise

    stop = threading.Event()
    reload_requested = threading.Event()
    agents_reload_requested = threading.Event()
    wake = threading.Event()

    def on_stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()
        wake.set()

    def on_hup(_signum: int, _frame: object) -> None:
        reload_requested.set()
        wake.set()

    def on_usr1(_signum: int, _frame: object) -> None:
        agents_reload_requested.set()
        wake.set()

    def on_usr2(_signum: int, _frame: object) -> None:
        log.warning("log level is now %s", cycle_level())

    bell = SignalBell()
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, on_usr2)

    if emulate:
        from mcollective.server.emulator import EmulatedDaemon

        daemon: Daemon = EmulatedDaemon(config, emulate, offset=emulate_offset)
    else:
        daemon = Daemon(config)
    try:
        daemon.begin()
    except MCollectiveError as exc:
        log.error("cannot start: %s", exc)
        report.send(f"failed {exc}")
        if pid:
            pid.release()
        return 1
    limit = config.connect_limit()
    report_by = time.monotonic() + (DAEMONIZE_WAIT if math.isinf(limit) else limit + 5.0)
    systemd.notify("STATUS=connecting to the middleware")
    announced = False
    code = 0
    try:
        while not stop.is_set():
            if not announced and daemon.ready.is_set():
                announced = True
                if pid:
                    pid.write()
                report.send("ready")
                systemd.notify("READY=1", f"STATUS=serving {len(daemon.agents)} agents as "
                                          f"{daemon.identity}")
            elif not announced and daemon.failure is not None:
                log.error("cannot start: %s", daemon.failure)
                report.send(f"failed {daemon.failure}")
                code = 1
                break
            elif not announced and report.fd is not None and time.monotonic() > report_by:
                report.send(f"waiting (pid {os.getpid()})")
            # Until ready, wake up as soon as the node is (or fails); signals set `wake`.
            if announced:
                bell.wait(IDLE_WAIT)
            else:
                daemon.settled.wait(0.5)
            wake.clear()
            if reload_requested.is_set():
                reload_requested.clear()
                log.info("received SIGHUP, reloading")
                systemd.reloading()
                try:
                    new_config = load_config(config.path, role="server") if config.path \
                        else load_config(None, role="server")
                except MCollectiveError as exc:
                    log.error("reload failed, keeping the running configuration: %s", exc)
                else:
                    try:
                        daemon.reload(new_config)
                    except Exception:  # the daemon keeps serving what it had
                        log.exception("reload failed, keeping the running configuration")
                    config = daemon.config
                systemd.notify("READY=1" if announced else "STATUS=connecting to the middleware")
            if agents_reload_requested.is_set():
                agents_reload_requested.clear()
                log.info("received SIGUSR1, reloading agents, facts and plugins")
                try:
                    daemon.reload(daemon.config)
                except Exception:
                    log.exception("reload failed, keeping the running agents")
    finally:
        bell.close()
        systemd.notify("STOPPING=1")
        bound = config.soft_shutdown_timeout if config.soft_shutdown else 0.0
        daemon.stop(timeout=bound)
        if pid:
            pid.release()
        report.send("failed stopped while starting")
    return code


#: Longest the main thread of a running daemon sleeps between looks at its flags. Signals
#: wake it at once (SignalBell), so this is only a safety net.
IDLE_WAIT = 60.0


class SignalBell:
    """Lets the main thread sleep until a signal arrives, on whichever thread.

    A Python signal handler runs on the main thread, but the kernel may deliver the
    signal to any thread: a main thread blocked on an Event would then only run the
    handler when its wait timed out (which is why it used to wake twice a second).
    With :func:`signal.set_wakeup_fd` the C-level handler writes to a pipe the main
    thread waits on, so it wakes at once and the handler runs."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._old: int | None
        try:
            self._old = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        except ValueError:  # not the main thread (tests running run() in a thread)
            self._old = None

    def wait(self, timeout: float) -> None:
        if self._old is None:
            time.sleep(min(timeout, 0.5))
            return
        try:
            select.select([self._r], [], [], timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries select itself
            pass
        with contextlib.suppress(OSError):
            while os.read(self._r, 512):
                pass

    def close(self) -> None:
        if self._old is not None:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(self._old)
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    early = EarlyRecords()
    root = logging.getLogger()
    root.addHandler(early)
    try:
        config = load_config(args.config, role="server")
    except MCollectiveError as exc:
        early.replay(to_stderr=True)
        print(f"mcollectived: {exc}", file=sys.stderr)
        return 1
    finally:
        root.removeHandler(early)
    daemon_mode = config.daemonize if args.daemonize is None else args.daemonize
    pidfile = args.pidfile or config.pidfile
    try:
        return run(config, pidfile=pidfile, daemon_mode=daemon_mode, loglevel=args.loglevel,
                   emulate=args.emulate or 0, emulate_offset=args.emulate_offset,
                   early=early)
    except MCollectiveError as exc:
        early.replay(to_stderr=True)
        print(f"mcollectived: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
