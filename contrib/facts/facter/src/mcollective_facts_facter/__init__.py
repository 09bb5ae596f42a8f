"""Facts from Puppet's Facter for mcollective (``factsource = facter``).

The node's facts are what the real ``facter --json`` prints, structured facts kept
structured (``os.family``, ``networking.interfaces.eth0.ip``), cached for
``plugin.facter.cache_time`` seconds and refreshed in the background: no request ever
waits for Facter, and a Facter that fails or hangs leaves the last good facts in place
(the failure is logged and shown by ``rpcutil daemon_stats``). Importing this package
does nothing; the source is created through the ``mcollective.facts`` entry point
``facter``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
