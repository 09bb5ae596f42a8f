"""What an audit plugin provides: one record per request a node acted on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class AuditEvent:
    """One request as a node saw it, after validation and authorization."""

    time: float
    request_id: str
    request_time: float
    caller: str
    sender: str
    agent: str
    action: str
    data: dict[str, Any] = field(default_factory=dict)
    collective: str = ""
    authorized: bool | None = None
    reason: str = ""
    statuscode: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Auditor(ABC):
    @abstractmethod
    def audit(self, event: AuditEvent) -> None:
        """Record ``event``. Exceptions are logged by the daemon and never fail the
        request."""

    def close(self) -> None:  # noqa: B027 - optional
        """Flush and release files (daemon stop or reload)."""
