"""Facter-style external facts for mcollective (``factsource = external``).

The files of one or more ``facts.d`` directories, as Facter reads them: data files
(``.yaml``/``.yml``, ``.json``, ``.txt`` with ``key=value`` lines) and executables whose
output is JSON, YAML or ``key=value`` lines, each run with a timeout. Cached and
refreshed in the background like the Facter and Ohai sources, so no request waits for
a slow script; a file that breaks keeps its last good facts. Importing this package
does nothing; the source is created through the ``mcollective.facts`` entry point
``external``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
