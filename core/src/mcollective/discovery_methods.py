"""Core's discovery methods, declared as entry points like third-party ones."""

from __future__ import annotations

import queue
import time

from mcollective.discovery import DiscoveryMethod, DiscoveryRequest
from mcollective.hookspecs import hookimpl


class MCDiscovery(DiscoveryMethod):
    """Broadcast a ``discovery#ping`` carrying the filter; every matching node answers.

    The wait is adaptive: it ends ``window`` seconds after the last reply (or at the
    timeout, or as soon as ``limit`` nodes answered), not after a fixed multi-second
    wait. Until the first reply arrives the full timeout applies, so slow networks still
    get their time.
    """

    name = "mc"
    default_timeout = 2.0
    broadcast = True

    def discover(self, request: DiscoveryRequest) -> list[str]:
        session = request.session
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
        finally:
            session.forget(req.id)
        return found

    @hookimpl
    @classmethod
    def mco_discovery_create(cls) -> DiscoveryMethod:
        return cls()
