"""Render an agent DDL as the text ``mco plugin doc <agent>`` prints.

The layout follows MCollective's ``rpc-help.erb`` (labels right-aligned, actions sorted by
name), so that users who know ``mco plugin doc`` find what they expect; aggregates and the
action's display mode, which that template did not show, are added at the end of each
action.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcollective.ddl.model import ActionDDL, AgentDDL

_LABEL_WIDTH = 26  # "              Description:" in rpc-help.erb


def _field(label: str, value: Any) -> str:
    return f"{label + ':':>{_LABEL_WIDTH}} {value}"


def _show(value: Any) -> str:
    return value if isinstance(value, str) and value else json.dumps(value)


def render_action(action: ActionDDL) -> str:
    """One action's section: description, inputs, outputs, summaries."""
    lines = [f"   {action.name} action:", "   " + "-" * (len(action.name) + 8),
             f"       {action.description}", "", "       INPUT:"]
    if not action.inputs:
        lines += ["           This action does not have any inputs", ""]
    for name in sorted(action.inputs):
        item = action.inputs[name]
        lines += [f"           {name}:", _field("Description", item.description),
                  _field("Prompt", item.prompt), _field("Type", item.type),
                  _field("Optional", str(item.optional).lower())]
        if item.type == "string":
            lines += [_field("Validation", item.validation),
                      _field("Length", item.maxlength or "unlimited")]
        elif item.type == "list" and item.list:
            lines.append(_field("Valid Values", ", ".join(item.list)))
        if item.default is not None:
            lines.append(_field("Default Value", _show(item.default)))
        lines.append("")
    lines.append("       OUTPUT:")
    if not action.outputs:
        lines += ["           This action does not have any outputs", ""]
    for name in sorted(action.outputs):
        out = action.outputs[name]
        lines += [f"           {name}:", _field("Description", out.description),
                  _field("Display As", out.display_as)]
        if out.type is not None:
            lines.append(_field("Type", out.type))
        if out.default is not None:
            lines.append(_field("Default Value", _show(out.default)))
        lines.append("")
    if action.aggregates:
        lines.append("       SUMMARY:")
        for agg in action.aggregates:
            opts = f", {json.dumps(agg.options)}" if agg.options else ""
            lines.append(f"           {agg.function}({agg.output}{opts})")
        lines.append("")
    lines.append(f"       Results shown: {_DISPLAY[action.display]}")
    return "\n".join(lines) + "\n"


_DISPLAY = {"ok": "successes only", "failed": "failures only", "always": "always"}


def render_help(ddl: AgentDDL, action: str | None = None) -> str:
    """The agent's documentation, or only ``action``'s section when given (raises
    :class:`~mcollective.errors.UnknownRPCAction` for an undeclared action)."""
    if action is not None:
        return f"{ddl.name}#{action}\n\n" + render_action(ddl.action(action))
    meta = ddl.metadata
    lines = [meta.name, "=" * len(meta.name), "", meta.description, "",
             f"      Author: {meta.author}", f"     Version: {meta.version}",
             f"     License: {meta.license}", f"     Timeout: {meta.timeout}",
             f"   Home Page: {meta.url}"]
    if meta.provider:
        lines.append(f"    Provider: {meta.provider}")
    if meta.service:
        lines.append("     Service: yes (requests go to one node of the collective)")
    lines += ["", "ACTIONS:", "========", "   " + ", ".join(sorted(ddl.actions)), ""]
    text = "\n".join(lines) + "\n"
    return text + "\n".join(render_action(ddl.actions[n]) for n in sorted(ddl.actions))


__all__ = ["render_action", "render_help"]
