"""``mc``: find nodes by broadcasting the filter and collecting who answers."""

from __future__ import annotations

import logging
import queue
import time

from mcollective.discovery import DiscoveryMethod, DiscoveryRequest
from mcollective.hookspecs import hookimpl

log = logging.getLogger(__name__)


class MCDiscovery(DiscoveryMethod):
    """Broadcast a ``discovery#ping`` carrying the filter; every matching node answers.

    The wait is adaptive: it ends ``window`` seconds after the last reply (or at the
    timeout, or as soon as ``limit`` nodes answered), not after a fixed multi-second
    wait. Until the first reply arrives the full timeout applies, so slow networks still
    get their time. MCollective always waited the whole ``--dt``; Choria made the
    sliding window opt-in.
    """

    name = "mc"
    default_timeout = 2.0
    broadcast = True

    def discover(self, request: DiscoveryRequest) -> list[str]:
        session = request.session
        if session is None:  # pragma: no cover - the client always passes one
            raise ValueError("the mc discovery method needs a client session")
        session.connect()
        req = session.new_request("discovery", "ping", filter=request.filter.to_dict(),
                                  collective=request.collective)
        replies = session.expect(req.id)
        found: list[str] = []
        seen: set[str] = set()
        try:
            session.publish(req)
            deadline = time.monotonic() + request.timeout
            last: float | None = None
            while request.limit is None or len(found) < request.limit:
                now = time.monotonic()
                wait = deadline - now
                if last is not None:
                    wait = min(wait, last + request.window - now)
                if wait <= 0:
                    break
                try:
                    reply = replies.get(timeout=wait)
                except queue.Empty:
                    break
                last = time.monotonic()
                if reply.sender not in seen:
                    seen.add(reply.sender)
                    found.append(reply.sender)
                    log.debug("discovery reply %d from %s", len(found), reply.sender)
        finally:
            session.forget(req.id)
        log.debug("discovery finished: %d node(s)", len(found))
        return found

    @hookimpl
    @classmethod
    def mco_discovery_create(cls) -> DiscoveryMethod:
        return cls()
