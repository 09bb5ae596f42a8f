"""mcollective's connector for NATS, the middleware of Choria.

Subjects per collective (Choria's): ``C.broadcast.agent.<agent>``, ``C.node.<identity>``
and a private reply subject per client process, ``C.reply.<account>.<identity>.<pid>.<random>``.
Core NATS: nothing is stored, so nodes that are down accumulate nothing, and a request
older than its ttl is dropped by the daemon. Several server URLs are failover servers;
TLS, user/password, token, ``.creds`` and NKEY authentication. See ``docs/middleware.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
