"""Action policy authorization for mcollective.

MCollective's classic ``actionpolicy`` plugin: one policy file per agent under
``<configdir>/policies`` deciding which callers may run which actions on which nodes.
Importing this package does nothing; the authorizer is created through the
``mcollective.authorization`` entry point ``actionpolicy`` when a daemon has
``rpcauthorization = 1`` and ``rpcauthprovider = actionpolicy``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
