"""The ``nettest`` agent: ping a host or open a TCP connection from every node, plus the
``nettest_fqdn`` validator and ``nettest_mma`` aggregate its DDL names.

Compatible with Choria's nettest agent: same actions, inputs and outputs.
"""

from __future__ import annotations

from .agent import Nettest

__all__ = ["Nettest"]
__version__ = "0.1.0"
