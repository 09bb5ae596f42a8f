"""x509 certificate security for mcollective: the certificates a Puppet (or any) CA
already issued to every node and operator.

Clients and nodes sign every whole serialised request or reply with their private key
(RSA, EC or ed25519) and send their certificate along; receivers check that certificate
against the configured CA bundle, its validity dates and the CA's revocation list, then
the signature against the certificate's key. The caller id is ``cert=<certname>``.

Importing this package does nothing; the provider is created through the
``mcollective.security`` entry point ``x509``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
