"""mcollective: discover servers by their metadata and run RPC actions on all of them.

Importing this package does no work: no plugins are loaded, no files read, no
connections made. ``hookimpl`` marks plugin hook implementations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcollective.hookspecs import hookimpl

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``hookimpl`` on first use: ``mco --version`` must not import pluggy."""
    if name == "hookimpl":
        from mcollective.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["__version__", "hookimpl"]
