"""What a client gets back: one :class:`Result` per reply and :class:`RPCStats` per call."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    sender: str
    statuscode: int
    statusmsg: str
    data: Any
    agent: str
    action: str
    time: float = 0.0

    @property
    def ok(self) -> bool:
        return self.statuscode == 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("time")
        return out


#: Exit codes of ``mco rpc`` and the commands built on it (docs/commands.md#exit-codes).
EXIT_OK = 0
#: Nothing discovered, or an error of any kind (a bad option included).
EXIT_NOTHING_DISCOVERED = 1
#: Every targeted node answered, and some replies failed (status other than 0).
EXIT_FAILED_REPLIES = 2
#: Nodes were targeted and none answered.
EXIT_NO_REPLIES = 3
#: No discovery was done and no reply came.
EXIT_NO_DISCOVERY_NO_REPLIES = 4
#: Some of the targeted nodes did not answer (the replies that came may have failed
#: too: ``-j`` says which nodes are which).
EXIT_SILENT_NODES = 5


def silent_nodes(missing: list[str], expected: int) -> str:
    """``2 of 40 nodes did not answer: web1, web7``, on one line: ten names at most,
    then ``and N more``."""
    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more"
                                       if len(missing) > 10 else "")
    return f"{len(missing)} of {expected} nodes did not answer: {shown}"


@dataclass
class RPCStats:
    """Counters of one call, as MCollective's ``RPC::Stats``.

    ``discovered_nodes`` are the nodes the request was meant for (after
    ``--limit-nodes``); with ``--batch`` every batch adds to the same counters, and
    ``blocktime`` (agent time) includes the sleeps between batches, as in MCollective.
    """

    requestid: str = ""
    discovered_nodes: list[str] = field(default_factory=list)
    discovery_method: str = ""
    responded: list[str] = field(default_factory=list)
    okcount: int = 0
    failcount: int = 0
    unexpectedresponsefrom: list[str] = field(default_factory=list)
    starttime: float = field(default_factory=time.time)
    discoverytime: float = 0.0
    publishtime: float = 0.0
    blocktime: float = 0.0
    totaltime: float = 0.0
    discovery_performed: bool = False
    #: How many batches the request was sent in (1 without ``--batch``).
    batches: int = 0
    aggregate_summary: list[Any] = field(default_factory=list)
    aggregate_failures: list[str] = field(default_factory=list)
    #: What went wrong with the middleware during the call (discovery included), e.g.
    #: ``lost the connection to amqp://...``; empty if nothing did. Nodes that did not
    #: answer may then never have been asked, or their replies were lost.
    connection_error: str = ""
    #: Senders already counted: a node's second reply (a duplicate) is ignored.
    seen: set[str] = field(default_factory=set, repr=False)

    @property
    def discovered(self) -> int:
        return len(self.discovered_nodes)

    @property
    def responses(self) -> int:
        return len(self.responded)

    @property
    def noresponsefrom(self) -> list[str]:
        seen = set(self.responded)
        return sorted(n for n in self.discovered_nodes if n not in seen)

    def record(self, result: Result) -> None:
        self.responded.append(result.sender)
        if result.ok:
            self.okcount += 1
        else:
            self.failcount += 1
        if self.discovery_performed and result.sender not in self._discovered_set():
            self.unexpectedresponsefrom.append(result.sender)

    def _discovered_set(self) -> set[str]:
        cached = getattr(self, "_dset", None)
        if cached is None or len(cached) != len(self.discovered_nodes):
            cached = set(self.discovered_nodes)
            self._dset = cached
        return cached

    def gap_report(self) -> str | None:
        """One line on a middleware failure and the nodes it left without an answer,
        e.g. ``lost the connection to X during the request; 1 of 2 nodes did not
        answer: web2``; ``None`` when the middleware did not fail."""
        if not self.connection_error:
            return None
        missing = self.noresponsefrom
        if not self.discovery_performed:
            return f"{self.connection_error}; {self.responses} node(s) answered"
        if not missing:
            return f"{self.connection_error}; every node answered nevertheless"
        return f"{self.connection_error}; {silent_nodes(missing, self.discovered)}"

    def exit_code(self) -> int:
        """The exit code of ``mco rpc`` (docs/commands.md#exit-codes): MCollective's
        ``halt`` codes (reference §1.5) plus :data:`EXIT_SILENT_NODES` when some of the
        targeted nodes did not answer, so that a script learns it from the code alone
        (MCollective exited 0 then). At least 1 when the middleware failed during a
        call made without discovery, whose missing replies nobody can count."""
        code = self._halt_code()
        if code == 0 and self.connection_error and not self.discovery_performed:
            return 1
        return code

    def _halt_code(self) -> int:
        if self.discovery_performed:
            if not self.discovered_nodes and not self.responded:
                return EXIT_NOTHING_DISCOVERED
            if not self.responded:
                return EXIT_NO_REPLIES
            if self.noresponsefrom:
                return EXIT_SILENT_NODES
            return EXIT_FAILED_REPLIES if self.failcount else EXIT_OK
        if not self.responded:
            return EXIT_NO_DISCOVERY_NO_REPLIES
        return EXIT_FAILED_REPLIES if self.failcount else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "requestid": self.requestid,
            "discovered": self.discovered,
            "discovered_nodes": list(self.discovered_nodes),
            "responses": self.responses,
            "okcount": self.okcount,
            "failcount": self.failcount,
            "noresponsefrom": self.noresponsefrom,
            "unexpectedresponsefrom": sorted(set(self.unexpectedresponsefrom)),
            "starttime": self.starttime,
            "discoverytime": self.discoverytime,
            "publishtime": self.publishtime,
            "blocktime": self.blocktime,
            "totaltime": self.totaltime,
            "batches": self.batches,
            "connection_error": self.connection_error,
        }
