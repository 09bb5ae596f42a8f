"""From the ``command`` and ``user`` inputs to an argv that runs without a shell."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
from dataclasses import dataclass

from mcollective.errors import InvalidRPCData, RPCAborted


def parse_command(command: str) -> list[str]:
    """Split a command line as a POSIX shell would (quotes and backslashes), without
    any of a shell's expansions, pipes or redirections: those reach the program as
    literal arguments. Raises :class:`InvalidRPCData` (status 4) for an empty command
    or unbalanced quotes."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise InvalidRPCData(f"cannot parse command: {exc}") from None
    if not argv:
        raise InvalidRPCData("command is empty")
    return argv


@dataclass(frozen=True)
class Invocation:
    """What to execute: the argv (perhaps wrapped to switch user) and its environment
    (``None``: the daemon's own)."""

    argv: list[str]
    env: dict[str, str] | None = None


def invocation(command: str, user: str | None) -> Invocation:
    """The argv and environment that run ``command`` as ``user`` (or as the daemon).

    Switching user goes through util-linux's ``setpriv`` (real and effective ids,
    supplementary groups of the target user), so that the same argv serves a command
    waited for and a background job. ``HOME``, ``USER`` and ``LOGNAME`` are set for the
    target user.
    """
    argv = parse_command(command)
    if not user:
        return Invocation(argv)
    entry = _lookup(user)
    if entry.pw_uid == os.geteuid():
        return Invocation(argv)
    if os.geteuid() != 0:
        raise RPCAborted(f"cannot run commands as '{user}': the daemon does not run as root")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RPCAborted(f"cannot run commands as '{user}': setpriv (util-linux) is not "
                         f"installed")
    env = dict(os.environ)
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
