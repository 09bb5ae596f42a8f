"""What a discovery method provides: the identities of the nodes matching a filter."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from mcollective.client.session import ClientSession
    from mcollective.filters import Filter

ALL_CAPABILITIES = frozenset({"identity", "facts", "classes", "agents", "compound"})


@dataclass
class DiscoveryRequest:
    session: ClientSession
    filter: Filter
    collective: str
    timeout: float
    #: Adaptive window: stop this long after the last reply (broadcast methods).
    window: float
    limit: int | None = None
    options: list[str] = field(default_factory=list)


class DiscoveryMethod(ABC):
    name: ClassVar[str] = ""
    #: Seconds a discovery may take when the user gives no ``--dt``.
    default_timeout: ClassVar[float] = 2.0
    #: Filter kinds the method can evaluate; using others is an error.
    capabilities: ClassVar[frozenset[str]] = ALL_CAPABILITIES
    #: Whether results come from the network (broadcast) rather than a list.
    broadcast: ClassVar[bool] = False

    @abstractmethod
    def discover(self, request: DiscoveryRequest) -> list[str]:
        """Identities of matching nodes, in discovery order, without duplicates."""
