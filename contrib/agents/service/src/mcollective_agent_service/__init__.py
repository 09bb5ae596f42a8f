"""The ``service`` agent: start, stop, restart and query services through systemd, plus
the ``service_name`` validator its DDL names.

Compatible with Choria's service agent: same actions, inputs and outputs.
"""

from __future__ import annotations

from .agent import Service

__all__ = ["Service"]
__version__ = "0.1.0"
