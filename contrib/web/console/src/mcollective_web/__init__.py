"""mcollective web console and REST gateway (``mco web``).

Importing this package does nothing; ``mco web`` (the ``web`` entry point of
``mcollective.applications``) imports the web stack only when it serves.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
