"""From the ``command`` and ``user`` inputs to the argv that runs it: ``/bin/sh -c
COMMAND``, so a command reads as an operator types it at a prompt (pipes, redirections,
``&&``, variables, globs), as with Choria's shell agent."""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass

from mcollective.errors import InvalidRPCData, RPCAborted

#: The shell commands run through; POSIX ``sh`` is on every node.
SHELL = "/bin/sh"

#: The longest command accepted (the DDL says the same; checked here too for callers
#: that bypass the DDL).
MAX_COMMAND = 10240


def shell_argv(command: str) -> list[str]:
    """``[/bin/sh, -c, command]``. Raises :class:`InvalidRPCData` (status 4) for an
    empty command, which a shell would run as a silent success."""
    if not command.strip():
        raise InvalidRPCData("command is empty")
    if len(command) > MAX_COMMAND:
        raise InvalidRPCData(f"command is longer than {MAX_COMMAND} characters")
    if "\0" in command:
        raise InvalidRPCData("command contains a NUL character")
    return [SHELL, "-c", command]


@dataclass(frozen=True)
class Invocation:
    """What to execute: the argv (perhaps wrapped to switch user) and its environment
    (``None``: the daemon's own; see :func:`command_environment`)."""

    argv: list[str]
    env: dict[str, str] | None = None


#: The daemon's terminal settings, if it was started from one: a command run on a node
#: has no terminal, and ``COLUMNS=80`` would make ``ps aux | grep x`` cut the command
#: lines it greps (procps honours COLUMNS even into a pipe).
TERMINAL_VARIABLES = ("COLUMNS", "LINES", "TERM")


def command_environment() -> dict[str, str]:
    """The daemon's environment without its terminal's settings."""
    return {k: v for k, v in os.environ.items() if k not in TERMINAL_VARIABLES}


def invocation(command: str, user: str | None) -> Invocation:
    """The argv and environment that run ``command`` through ``/bin/sh -c`` as ``user``
    (or as the daemon).

    Switching user goes through util-linux's ``setpriv`` (real and effective ids,
    supplementary groups of the target user), so that the same argv serves a command
    waited for and a background job. ``HOME``, ``USER`` and ``LOGNAME`` are set for the
    target user.
    """
    argv = shell_argv(command)
    if not user:
        return Invocation(argv, command_environment())
    entry = _lookup(user)
    if entry.pw_uid == os.geteuid():
        return Invocation(argv, command_environment())
    if os.geteuid() != 0:
        raise RPCAborted(f"cannot run commands as '{user}': the daemon does not run as root")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RPCAborted(f"cannot run commands as '{user}': setpriv (util-linux) is not "
                         f"installed")
    env = command_environment()
    env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    return Invocation([setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                       "--init-groups", "--", *argv], env)


def _lookup(user: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        pass
    if user.isdigit():
        try:
            return pwd.getpwuid(int(user))
        except KeyError:
            pass
    raise InvalidRPCData(f"unknown user '{user}'")
