"""Logging set-up shared by the daemon and the client, from the ``log*`` config keys."""

from __future__ import annotations

import logging
import os
import sys
import unicodedata
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mcollective.config import Config

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "error": logging.ERROR, "fatal": logging.CRITICAL}
CYCLE = ["debug", "info", "warn", "error", "fatal"]

FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s"
#: Under journald (stderr is the journal): no time stamp (journald adds its own) and the
#: syslog priority as a ``<N>`` prefix, which journald turns into the entry's level.
JOURNAL_FORMAT = "<%(priority)d>%(name)s: %(message)s"

#: logging level -> syslog priority (sd-daemon(3)).
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
               (logging.INFO, 6))


#: Longest untrusted value written into a log line (characters, before escaping).
UNTRUSTED_LIMIT: Final = 1000


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unsafe(ch: str) -> bool:
    """Control characters (C0, DEL, C1: newlines, ANSI escapes, NUL), line and paragraph
    separators, and format characters (bidi overrides that reorder what a reader sees)."""
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cf")


def untrusted(value: Any, limit: int = UNTRUSTED_LIMIT) -> str:
    """``value`` made safe for one log line: every control character escaped (``\\n``
    as ``\\x0a``, ESC as ``\\x1b``, NUL as ``\\x00``, bidi overrides as ``\\u202e``;
    backslashes doubled, so an escape cannot be faked either) and cut to ``limit``
    characters with the number left out.

    For every value that comes from a message which failed, or has not yet passed,
    verification (a security field, an unknown filter key, a caller or sender id, an
    error message quoting any of them): a newline there would otherwise forge a log line,
    and an ANSI escape rewrite a terminal showing the log.
    """
    text = value if isinstance(value, str) else str(value)
    extra = len(text) - limit
    if extra > 0:
        text = text[:limit]
    out = "".join(
        "\\\\" if ch == "\\" else _escape_char(ch) if _unsafe(ch) else ch for ch in text)
    return f"{out}...(+{extra} chars)" if extra > 0 else out


class SafeFormatter(logging.Formatter):
    """Escapes control characters in the message part of every record: the safety net
    behind :func:`untrusted` (which also bounds length), so that a value some log call
    forgot to mark still cannot forge a line. Tracebacks, added after, keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        if any(_unsafe(ch) for ch in message):
            record.message = "".join(_escape_char(ch) if _unsafe(ch) else ch
                                     for ch in message)
        return super().formatMessage(record)


class JournalFormatter(SafeFormatter):
    """One line per record (continuation lines would lose their priority), prefixed
    with the record's syslog priority."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.priority = next((p for level, p in _PRIORITIES if record.levelno >= level), 7)
        return super().format(record).replace("\n", "\n    ")


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
        handler = _file_handler(config, target, forced=bool(logfile))
        handler.setFormatter(SafeFormatter(FORMAT))
    elif kind == "syslog":
        from logging.handlers import SysLogHandler

        handler = SysLogHandler(
            address="/dev/log", facility=config.logfacility)
        handler.setFormatter(SafeFormatter("mcollectived[%(process)d]: %(name)s: %(message)s"))
    else:
        from mcollective.systemd import writes_to_journal

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournalFormatter() if writes_to_journal(sys.stderr)
                             else SafeFormatter(FORMAT))
    setattr(handler, "_mcollective", True)  # noqa: B010 - marks our own handlers
    root.addHandler(handler)
    root.setLevel(LEVELS[level or config.loglevel])
    # kombu and amqp are chatty at debug level; keep them one step quieter.
    for noisy in ("kombu", "amqp"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.INFO))
    return handler


def check_log_target(config: Config, logfile: str | None = None) -> None:
    """Raise the ConfigError :func:`setup_logging` would raise for an unusable log file,
    without touching the logging set-up: the daemon checks before it forks, while the
    user still sees its stderr."""
    target = logfile or config.logfile
    if (logfile or config.logger_type == "file") and target:
        _file_handler(config, target, forced=bool(logfile)).close()


def _file_handler(config: Config, target: str, *, forced: bool) -> logging.Handler:
    """The rotating log file; a file that cannot be opened (its directory is missing, no
    permission) is a one-line ConfigError naming ``logfile`` and where it was set, not a
    traceback from deep inside :mod:`logging`."""
    from logging.handlers import RotatingFileHandler  # not on mco's way (issue 14)

    try:
        return RotatingFileHandler(
            target, maxBytes=config.max_log_size, backupCount=config.keeplogs,
            encoding="utf-8")
    except OSError as exc:
        from mcollective.errors import ConfigError

        reason = exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError):
            reason = f"directory {os.path.dirname(target) or '.'} does not exist"
        message = f"cannot open log file {target}: {reason}"
        if forced:
            # The daemon chose the file itself (console logging while daemonized).
            raise ConfigError(message, key="statedir") from None
        source = config.source("logfile")
        raise ConfigError(message, file=source.file if source else None,
                          line=source.line if source else None, key="logfile") from None


def cycle_level() -> str:
    """SIGUSR2: debug → info → warn → error → fatal → debug, as MCollective did."""
    root = logging.getLogger()
    names = {v: k for k, v in LEVELS.items()}
    current = names.get(root.level, "info")
    new = CYCLE[(CYCLE.index(current) + 1) % len(CYCLE)]
    root.setLevel(LEVELS[new])
    return new
