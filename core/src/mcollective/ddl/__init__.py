"""Agent DDLs (interface descriptions): Choria's JSON format, loaded, checked and used.

The DDL is the contract on both sides: clients use it to type and check arguments and to
display results, servers to refuse bad requests before an action runs. The format and our
rules are documented in ``docs/ddl.md``.

* :func:`load_agent_ddl` / :meth:`AgentDDL.from_dict` read a DDL; :meth:`AgentDDL.to_dict`
  writes it back in Choria's format.
* :meth:`AgentDDL.build` with :func:`action_ddl`, :func:`input_item`, :func:`output_item`
  and :func:`aggregate_spec` writes one in Python.
* :meth:`ActionDDL.validate`, :meth:`ActionDDL.coerce`, :meth:`ActionDDL.output_defaults`
  and :meth:`ActionDDL.merge_output_defaults` are the per-request operations.
* :func:`render_help` is the text of ``mco plugin doc``.
"""

from __future__ import annotations

from mcollective.ddl.help import render_action, render_help
from mcollective.ddl.model import (
    ActionDDL,
    AgentDDL,
    AgentMetadata,
    AggregateSpec,
    DDLFormatError,
    Display,
    InputItem,
    OutputItem,
    action_ddl,
    aggregate_spec,
    input_item,
    load_agent_ddl,
    output_item,
)
from mcollective.ddl.schema import INPUT_TYPES, KNOWN_SCHEMAS, SCHEMA_URL

__all__ = [
    "INPUT_TYPES",
    "KNOWN_SCHEMAS",
    "SCHEMA_URL",
    "ActionDDL",
    "AgentDDL",
    "AgentMetadata",
    "AggregateSpec",
    "DDLFormatError",
    "Display",
    "InputItem",
    "OutputItem",
    "action_ddl",
    "aggregate_spec",
    "input_item",
    "load_agent_ddl",
    "output_item",
    "render_action",
    "render_help",
]
