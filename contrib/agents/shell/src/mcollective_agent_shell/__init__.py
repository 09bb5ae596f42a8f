"""The ``shell`` agent: run commands on nodes and wait for them, or start them as
background jobs and follow their output by handle.

Compatible with Choria's shell agent: same actions, inputs and outputs; commands run
through ``/bin/sh -c`` as an operator types them. A command that exits non-zero fails
the request (status 1, outputs kept), so ``mco`` exits non-zero too.
"""

from __future__ import annotations

from .agent import Shell
from .command import shell_argv
from .jobs import Job, JobStore

__all__ = ["Job", "JobStore", "Shell", "shell_argv"]
__version__ = "0.1.0"
