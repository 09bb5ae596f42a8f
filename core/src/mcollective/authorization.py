"""What an authorization plugin provides: a decision per request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcollective.filters import Node
    from mcollective.message import Request


@dataclass(frozen=True)
class Decision:
    """``reason`` goes to the audit log; ``notice``, when set, is appended to the
    caller's "not authorized" reply, for denials the caller's operator can only fix by
    knowing why (a broken policy file on the node), never for ordinary rule denials."""

    allowed: bool
    reason: str = ""
    notice: str = ""


class Authorizer(ABC):
    @abstractmethod
    def authorize(self, request: Request, action: str, node: Node) -> Decision:
        """Whether the request's caller may run ``action`` of ``request.agent`` on this
        node. A denial is answered with status 1 and audited. Raising counts as a
        denial."""
