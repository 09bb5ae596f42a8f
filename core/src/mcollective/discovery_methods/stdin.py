"""``stdin``: the nodes piped into ``mco``, so one command's replies target the next.

``mco rpc puppet status -j | jq '[.[] | select(.data.enabled)]' | mco rpc puppet enable``

The method is used when asked for (``--dm stdin``) and, as in MCollective, chosen
automatically when a node list is piped in and no method was given. Automatic
detection is careful (Choria #1147: cron jobs, whose standard input is an empty pipe,
switched to stdin discovery and found nothing): it applies only when standard input is
a pipe, socket or file that actually delivers text — never for a terminal or
``/dev/null``, and not for an empty pipe. See :func:`piped_stdin`.
"""

from __future__ import annotations

import os
import select
import stat
import sys
from collections.abc import Callable
from typing import TextIO

from mcollective.discovery import (
    DiscoveryError,
    DiscoveryMethod,
    DiscoveryRequest,
    select_identities,
)
from mcollective.discovery_methods.nodelist import FORMATS, parse_node_list
from mcollective.hookspecs import hookimpl

#: After this long without input a notice says what ``mco`` is waiting for.
NOTICE_AFTER = 1.0
#: Longest wait for the first byte on a piped stdin when no method was chosen.
STDIN_WAIT = 10.0


class StdinDiscovery(DiscoveryMethod):
    """Identities from standard input: text, JSON (``mco ... -j`` output, PuppetDB
    ``certname`` lists) or YAML; ``--do auto|text|json|yaml`` (default ``auto``).
    ``-I`` filters are applied locally; no other filter kind can be."""

    name = "stdin"
    default_timeout = 0.0
    uses_timeout = False
    capabilities = frozenset({"identity"})
    broadcast = False

    def discover(self, request: DiscoveryRequest) -> list[str]:
        options = request.option_map(positional="format", known=("format",))
        fmt = options.get("format", "auto")
        if fmt not in FORMATS:
            raise DiscoveryError(f"unknown stdin format {fmt!r}; use --do with one of "
                                 f"{', '.join(FORMATS)}")
        text = request.read_stdin()
        nodes = parse_node_list(text, source="standard input", format=fmt)
        return select_identities(nodes, request.filter)

    @hookimpl
    @classmethod
    def mco_discovery_create(cls) -> DiscoveryMethod:
        return cls()


def piped_stdin(stream: TextIO | None = None, *, wait: float = STDIN_WAIT,
                notify: Callable[[str], None] | None = None) -> str | None:
    """The text piped into ``mco`` when stdin discovery should be chosen automatically,
    else ``None``.

    * a terminal, ``/dev/null`` or any other device: ``None`` without reading;
    * a regular file (``mco ... < nodes.txt``): its text from the current offset,
      ``None`` when empty; the offset is left as it was (``while read`` loops);
    * a pipe or socket: waits for the first data or end of input. Input that ends
      empty (cron) gives ``None``. When nothing at all arrives within ``wait`` seconds
      this raises :class:`DiscoveryError` rather than guessing: falling back to a
      broadcast could run an action on every node when the upstream command of a
      pipeline is merely slow. ``notify`` is told after :data:`NOTICE_AFTER` seconds.
    """
    stream = stream if stream is not None else sys.stdin
    if stream is None:
        return None
    try:
        fd = stream.fileno()
        if os.isatty(fd):
            return None
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None  # replaced or closed stdin (embedding programs, test runners)
    if stat.S_ISREG(mode):
        return _read_file_in_place(stream, fd)
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return None
    if not _readable(fd, min(NOTICE_AFTER, wait)):
        if notify is not None:
            notify("waiting for a node list on standard input (a pipe); use --dm mc or "
                   "</dev/null to discover on the network instead")
        if not _readable(fd, max(0.0, wait - NOTICE_AFTER)):
            raise DiscoveryError(
                f"standard input is a pipe but nothing arrived within {wait:g}s: use "
                "--dm stdin to wait for a node list, or --dm mc (or </dev/null) to "
                "discover on the network")
    text = stream.read()
    return text if text.strip() else None


def _read_file_in_place(stream: TextIO, fd: int) -> str | None:
    """The rest of a regular file on stdin, leaving its offset where it was: the
    offset is shared with the shell, so a ``while read`` loop around ``mco`` reading
    the same file (``done < hosts``) goes on with its next line."""
    try:
        start = os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        text = stream.read()
        return text if text.strip() else None
    chunks = []
    offset = start
    while True:
        chunk = os.pread(fd, 1 << 16, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    text = b"".join(chunks).decode(getattr(stream, "encoding", None) or "utf-8",
                                   errors="replace")
    return text if text.strip() else None


def _readable(fd: int, timeout: float) -> bool:
    ready, _, _ = select.select([fd], [], [], timeout)
    return bool(ready)
