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
    allowed: bool
    reason: str = ""


class Authorizer(ABC):
    @abstractmethod
    def authorize(self, request: Request, action: str, node: Node) -> Decision:
        """Whether the request's caller may run ``action`` of ``request.agent`` on this
        node. A denial is answered with status 1 and audited. Raising counts as a
        denial."""
