"""What the daemon says to systemd, in the few lines of socket code the protocol needs.

``Type=notify``: systemd passes ``$NOTIFY_SOCKET``; the daemon sends ``READY=1`` once it
is subscribed and serving, ``STATUS=...`` lines that ``systemctl status`` shows (while
it waits for its broker, for instance), ``RELOADING=1``/``READY=1`` around a reload and
``STOPPING=1`` when it stops (sd_notify(3)). Outside systemd every call does nothing.

``$JOURNAL_STREAM`` tells whether stderr *is* the journal (systemd.exec(5)); the
logging set-up then leaves the time stamp to journald and prefixes each line with its
syslog priority, so the journal keeps levels and shows one time stamp, not two.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TextIO


def notify(*fields: str) -> bool:
    """Send ``fields`` (``"READY=1"``, ``"STATUS=..."``) to systemd; False when not
    under a notify-type service or when the message could not be sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # the abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode("utf-8"))
    except OSError:
        return False
    return True


def reloading() -> bool:
    """Tell systemd a reload started (it waits for the next ``READY=1``)."""
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={now}")


def writes_to_journal(stream: TextIO) -> bool:
    """Whether ``stream`` is connected to the journal (``$JOURNAL_STREAM`` names its
    device and inode), as opposed to a terminal or a file it was redirected to."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"
