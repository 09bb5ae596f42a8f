"""The client side: a connection session, discovery, and :class:`RPCClient`."""

from __future__ import annotations

from mcollective.client.results import Result, RPCStats
from mcollective.client.rpc import RPCClient
from mcollective.client.session import ClientSession

__all__ = ["ClientSession", "RPCClient", "RPCStats", "Result"]
