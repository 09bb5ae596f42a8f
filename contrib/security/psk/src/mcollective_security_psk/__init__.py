"""Pre-shared key security for mcollective.

Every request and reply is signed with HMAC-SHA256 under one secret shared by all
clients and servers. The signature covers the whole serialised message (filter, agent,
collective, ttl and time included), unlike the original MCollective psk plugin, which
hashed only the body with MD5. Importing this package does nothing; the plugin is
created through the ``mcollective.security`` entry point ``psk``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
