"""Facts from Chef's Ohai for mcollective (``factsource = ohai``).

The node's facts are the JSON object the real ``ohai`` prints (``platform_family``,
``kernel.machine``, ``network.interfaces``...), cached for ``plugin.ohai.cache_time``
seconds and refreshed in the background: no request ever waits for Ohai, and an Ohai
that fails or hangs leaves the last good facts in place (logged, and shown by ``rpcutil
daemon_stats``). Importing this package does nothing; the source is created through
the ``mcollective.facts`` entry point ``ohai``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
