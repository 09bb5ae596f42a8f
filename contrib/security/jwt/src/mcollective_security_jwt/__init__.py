"""Per-caller security for mcollective with ed25519 keys and EdDSA JSON Web Tokens.

An organisation *issuer* key signs tokens: a client token names a caller id and the
agents and actions it may call; a server token names a node's identity and collectives.
Each token carries the public half of its holder's own ed25519 key. Clients sign every
whole serialised request with their private key and send their token along; servers
check the token against the issuer, the signature against the token's key and the
request against the token's allow list. Servers sign their replies the same way.

Importing this package does nothing; the provider is created through the
``mcollective.security`` entry point ``jwt`` and the tooling is ``mco security``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
