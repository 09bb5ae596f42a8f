"""``mco``: find the application named by the first argument and run it."""

from __future__ import annotations

import errno
import os
import sys
from typing import NoReturn

from mcollective import __version__, phases

#: Spellings MCollective used for commands named differently here.
ALIASES = {"describe_filter": "describe-filter"}


def known_commands() -> list[str]:
    from mcollective.plugins import installed_names

    return installed_names("application")


def print_commands(out: object = None) -> None:
    from mcollective.cli.output import columns

    stream = out or sys.stdout
    print(f"mco {__version__}\n\nKnown commands:\n", file=stream)  # type: ignore[arg-type]
    for line in columns(known_commands(), width=72):
        print("   " + line, file=stream)  # type: ignore[arg-type]
    print("\nRun 'mco help' for descriptions, 'mco help COMMAND' for a command's options.",
          file=stream)  # type: ignore[arg-type]


#: Exit code when the reader of ``mco``'s output went away (``mco ... | head``): what a
#: program killed by SIGPIPE reports to a shell (128 + 13).
BROKEN_PIPE = 141


#: Why writing the output can fail other than a closed pipe: a full disk or device
#: (``> /dev/full``), a quota, an I/O error, a closed descriptor.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO,
                           errno.EBADF})


def main(argv: list[str] | None = None) -> int:
    """Run ``mco``; returns the exit code (docs/commands.md). As the console script
    (``argv`` None) the process ends here, as soon as the output is flushed: see
    :func:`leave`."""
    phases.mark("main")
    try:
        code = _guarded(argv)
    finally:
        phases.mark("exit")
        phases.dump()
    if argv is None:
        leave(code)
    return code


def _guarded(argv: list[str] | None) -> int:
    """:func:`_main`, with what the output's reader or device did turned into an exit
    code and at most one line: no traceback."""
    _reopen_closed_streams()
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader stopped reading (head, less, a closed socket): nothing left to say
        # to it. Point stdout at /dev/null so that flushing at exit cannot fail again.
        _silence_stdout()
        return BROKEN_PIPE
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        _silence_stdout()
        print(f"mco: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return 1


def leave(code: int) -> NoReturn:
    """Flush what was written and end the process without the interpreter's
    teardown (garbage collection of every module, joining threads: 60 ms of a run
    that had nothing left to do). The session is closed by then (Application.run);
    log handlers are flushed by logging.shutdown."""
    import logging

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # a closed pipe (mco ... | head): nothing to do
            pass
        except (OSError, ValueError) as exc:
            if stream is sys.stdout and code == 0 and \
                    getattr(exc, "errno", None) in OUTPUT_ERRNOS:  # > /dev/full
                print(f"mco: cannot write the output: {exc}", file=sys.stderr)
                code = 1
    logging.shutdown()
    os._exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _reopen_closed_streams() -> None:
    """``mco ... >&-`` (or ``2>&-``) starts with no stdout (stderr): Python then has
    ``None`` there. Output goes to /dev/null instead; the exit code still tells."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def not_utf8(args: list[str]) -> str | None:
    """The first argument that is not valid UTF-8 (Python keeps such bytes as lone
    surrogates), shown with the bad bytes escaped; ``None`` if all are valid."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return shown
    return None


def _main(argv: list[str] | None) -> int:
    if argv is None and "_ARGCOMPLETE" in os.environ:  # the shell is completing a word
        from mcollective.cli.completion import complete

        complete()
    argv = list(sys.argv[1:] if argv is None else argv)
    bad = not_utf8(argv)
    if bad is not None:
        print(f"mco: argument '{bad}' is not valid UTF-8; requests carry text only",
              file=sys.stderr)
        return 1
    if not argv or argv[0] in ("-h", "--help"):
        print_commands()
        return 0
    if argv[0] == "--version":
        print(f"mco {__version__}")
        return 0
    # Imported here: `mco --version` and `mco --help` need none of it.
    from mcollective.errors import MCollectiveError, PluginLoadError
    from mcollective.plugins import make_plugin_manager

    name, rest = ALIASES.get(argv[0], argv[0]), argv[1:]
    plugins = make_plugin_manager()
    try:
        cls = plugins.application_class(name)
    except PluginLoadError as exc:
        if exc.cause is None:
            close = _closest(name, exc.installed)
            hint = f"; did you mean '{close}'?" if close else ""
            print(f"mco: unknown command '{name}'{hint}", file=sys.stderr)
            print_commands(sys.stderr)
        else:
            print(f"mco: {exc}", file=sys.stderr)
        return 1
    except MCollectiveError as exc:
        print(f"mco: {exc}", file=sys.stderr)
        return 1
    phases.mark("app")
    return cls(plugins).run(rest)


def _closest(name: str, names: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, names, n=1)
    return found[0] if found else None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
