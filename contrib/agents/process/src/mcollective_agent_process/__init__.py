"""The ``process`` agent: list processes on nodes, filtered by command line, owner or
zombie state, plus the ``process_summary`` aggregate its DDL names.

Compatible with Choria's process agent: same action, inputs and output.
"""

from __future__ import annotations

from .agent import Process, process_entry

__all__ = ["Process", "process_entry"]
__version__ = "0.1.0"
