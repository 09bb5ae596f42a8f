"""The ``shell`` agent: run commands on nodes and wait for them, or start them as
background jobs and follow their output by handle.

Compatible with Choria's shell agent: same actions, inputs and outputs. Unlike it,
commands never go through a shell: they are split like a POSIX shell would split them
and run directly.
"""

from __future__ import annotations

from .agent import Shell
from .command import parse_command
from .jobs import Job, JobStore

__all__ = ["Job", "JobStore", "Shell", "parse_command"]
__version__ = "0.1.0"
