"""Who is calling: the ``kind=name`` caller id put into every request.

With a pre-shared key every holder of the secret can claim any caller id, so the caller
id is informative (audit logs, authorization policies among trusted users), not proof.
"""

from __future__ import annotations

import getpass
import os
import re

from mcollective.security import CALLER_RE

CALLER_TYPES = ("user", "uid", "gid", "group", "identity")

# fullmatch, because ``$`` in CALLER_RE would also accept a trailing newline.
_CALLER = re.compile(CALLER_RE)


def is_valid_caller(caller: object) -> bool:
    """True for a well-formed caller id such as ``user=alice`` or ``uid=500``."""
    return isinstance(caller, str) and _CALLER.fullmatch(caller) is not None


def _login_name() -> str:
    # The password database tells who the process really runs as; the environment
    # ($USER, $LOGNAME) is only the fallback for accounts without an entry (containers
    # running under an arbitrary uid, Windows).
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError) as exc:
        raise ValueError(f"cannot tell the login name of this process ({exc}); "
                         "set plugin.psk.callertype = uid") from None


def _group_name() -> str:
    try:
        import grp
    except ImportError:
        raise ValueError("callertype 'group' is not available on this platform") from None
    gid = os.getgid()
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        raise ValueError(f"group id {gid} has no name; set plugin.psk.callertype = gid"
                         ) from None


def resolve_caller(callertype: str, identity: str) -> str:
    """The caller id of this process for ``callertype``; ValueError says why not."""
    if callertype == "user":
        caller = f"user={_login_name()}"
    elif callertype in ("uid", "gid"):
        getter = getattr(os, f"get{callertype}", None)
        if getter is None:
            raise ValueError(f"callertype '{callertype}' is not available on this platform")
        caller = f"{callertype}={getter()}"
    elif callertype == "group":
        caller = f"group={_group_name()}"
    elif callertype == "identity":
        caller = f"identity={identity}"
    else:
        raise ValueError(f"unknown callertype {callertype!r}; expected one of "
                         f"{', '.join(CALLER_TYPES)}")
    if not is_valid_caller(caller):
        raise ValueError(f"caller id {caller!r} does not match {CALLER_RE}; "
                         "choose another plugin.psk.callertype (uid works everywhere)")
    return caller
