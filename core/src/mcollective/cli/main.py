"""``mco``: find the application named by the first argument and run it."""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> int:
    """Run ``mco``. As the console script (``argv`` None) the process ends here, as
    soon as the output is flushed: see :func:`leave`."""
    phases.mark("main")
    try:
        code = _main(argv)
    finally:
        phases.mark("exit")
        phases.dump()
    if argv is None:
        leave(code)
    return code


def leave(code: int) -> NoReturn:
    """Flush what was written and end the process without the interpreter's
    teardown (garbage collection of every module, joining threads: 60 ms of a run
    that had nothing left to do). The session is closed by then (Application.run);
    log handlers are flushed by logging.shutdown."""
    import logging

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (mco ... | head): nothing to do
            pass
    logging.shutdown()
    os._exit(code)


def _main(argv: list[str] | None) -> int:
    if argv is None and "_ARGCOMPLETE" in os.environ:  # the shell is completing a word
        from mcollective.cli.completion import complete

        complete()
    argv = list(sys.argv[1:] if argv is None else argv)
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
