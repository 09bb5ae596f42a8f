"""What a registration plugin provides: the payload a node announces periodically."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass
class RegistrationContext:
    identity: str
    agents: list[str]
    facts: dict[str, Any]
    classes: list[str]
    collectives: list[str]


class RegistrationPlugin(ABC):
    @abstractmethod
    def payload(self, context: RegistrationContext) -> Any:
        """The registration body, or ``None`` to skip this round."""
