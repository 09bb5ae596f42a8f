"""``mc``: find nodes by broadcasting the filter and collecting who answers."""

from __future__ import annotations

import logging
import time

from mcollective import phases
from mcollective.discovery import DiscoveryMethod, DiscoveryRequest, collect_adaptively
from mcollective.hookspecs import hookimpl

log = logging.getLogger(__name__)


class MCDiscovery(DiscoveryMethod):
    """Broadcast a ``discovery#ping`` carrying the filter; every matching node answers.

    The wait is adaptive: it ends an idle window after the last reply (``window``
    seconds, stretched when replies come slowly; see :func:`collect_adaptively`), at the
    timeout, or as soon as ``limit`` nodes answered, not after a fixed multi-second
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
        try:
            session.publish(req)
            phases.mark("discovery_publish")
            for reply, _ in collect_adaptively(replies, started=time.monotonic(),
                                               timeout=request.timeout,
                                               window=request.window, limit=request.limit):
                found.append(reply.sender)
                phases.mark("discovery_reply")
                if request.on_node is not None:
                    request.on_node(reply.sender)
                log.debug("discovery reply %d from %s", len(found), reply.sender)
        finally:
            phases.mark("discovery_end")
            session.forget(req.id)
        log.debug("discovery finished: %d node(s)", len(found))
        return found

    @hookimpl
    @classmethod
    def mco_discovery_create(cls) -> DiscoveryMethod:
        return cls()
