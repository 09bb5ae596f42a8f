"""Logging set-up shared by the daemon and the client, from the ``log*`` config keys."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcollective.config import Config

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "error": logging.ERROR, "fatal": logging.CRITICAL}
CYCLE = ["debug", "info", "warn", "error", "fatal"]

FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s"


def setup_logging(config: Config, *, level: str | None = None,
                  logfile: str | None = None) -> logging.Handler:
    """Route the ``mcollective`` loggers to console, file or syslog as configured;
    ``logfile`` forces a file (a daemonized node has no console)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_mcollective", False):
            root.removeHandler(old)
            old.close()
    kind = "file" if logfile else config.logger_type
    target = logfile or config.logfile
    handler: logging.Handler
    if kind == "file" and target:
        handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=config.max_log_size, backupCount=config.keeplogs,
            encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
    elif kind == "syslog":
        handler = logging.handlers.SysLogHandler(
            address="/dev/log", facility=config.logfacility)
        handler.setFormatter(logging.Formatter("mcollectived[%(process)d]: %(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
    setattr(handler, "_mcollective", True)  # noqa: B010 - marks our own handlers
    root.addHandler(handler)
    root.setLevel(LEVELS[level or config.loglevel])
    # kombu and amqp are chatty at debug level; keep them one step quieter.
    for noisy in ("kombu", "amqp", "stevedore"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.INFO))
    return handler


def cycle_level() -> str:
    """SIGUSR2: debug → info → warn → error → fatal → debug, as MCollective did."""
    root = logging.getLogger()
    names = {v: k for k, v in LEVELS.items()}
    current = names.get(root.level, "info")
    new = CYCLE[(CYCLE.index(current) + 1) % len(CYCLE)]
    root.setLevel(LEVELS[new])
    return new
