"""Facts for mcollective from YAML files (``factsource = yaml``).

The classic MCollective facts source: ``plugin.yaml`` lists YAML files, later files
override earlier ones, and the files are reloaded when they change. Structured facts
(nested mappings and lists) are kept as they are. Importing this package does nothing;
the source is created through the ``mcollective.facts`` entry point ``yaml``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
