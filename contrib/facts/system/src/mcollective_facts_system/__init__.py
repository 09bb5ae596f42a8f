"""Facts about the machine for mcollective (``factsource = system``).

Operating system, kernel, architecture, processors, memory, network addresses, uptime
and the like, laid out as Puppet's Facter does (``os.family``, ``processors.count``,
``networking.ip``) with a few of Facter's classic flat names (``osfamily``,
``processorcount``, ``ipaddress``), so nodes can be discovered without installing
Facter. Importing this package does nothing; the source is created through the
``mcollective.facts`` entry point ``system``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
