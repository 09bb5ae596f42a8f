"""Core's data plugins: ``fstat``, ``fact``, ``agent`` and ``collective``.

Each is a :class:`mcollective.data.DataPlugin` with its Choria-format DDL beside it
(``fstat.json``...), declared in the ``mcollective.data`` entry-point group like any
third-party data plugin. Their outputs follow MCollective's (reference §4.6); where they
differ, ``docs/discovery.md`` says so.
"""

from mcollective.data_plugins.agent import AgentData
from mcollective.data_plugins.collective import CollectiveData
from mcollective.data_plugins.fact import FactData
from mcollective.data_plugins.fstat import FstatData

__all__ = ["AgentData", "CollectiveData", "FactData", "FstatData"]
