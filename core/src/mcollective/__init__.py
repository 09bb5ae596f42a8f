"""mcollective: discover servers by their metadata and run RPC actions on all of them.

Importing this package does no work: no plugins are loaded, no files read, no
connections made. ``hookimpl`` marks plugin hook implementations.
"""

from __future__ import annotations

from mcollective.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
