"""The ``puppet`` agent: run, enable, disable and interrogate the Puppet agent on nodes,
with the DDL Choria's puppet agent publishes, plus its ``puppet_*`` validators and the
``mco puppet`` application.

It drives the real ``puppet`` command and reads Puppet's own state files (the catalog
run lock, the disabled lock, ``last_run_summary.yaml``), so a node managed by Puppet
needs nothing else.
"""

from __future__ import annotations

from .agent import Puppet

__all__ = ["Puppet"]
__version__ = "0.1.0"
