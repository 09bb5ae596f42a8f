"""Rendering RPC results the way ``mco rpc`` users know them (reference §1.4)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from mcollective.errors import STATUS_LABELS

if TYPE_CHECKING:
    from mcollective.client.results import Result, RPCStats
    from mcollective.ddl import ActionDDL

STATUS_STYLE = {1: "red", 2: "yellow", 3: "yellow", 4: "yellow", 5: "red"}


def wants(result: Result, display: str) -> bool:
    if display in ("all", "always"):
        return True
    if display == "none":
        return False
    if display == "ok":
        return result.statuscode == 0
    return result.statuscode != 0


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def print_result(console: Console, result: Result, action: ActionDDL | None, *,
                 verbose: bool = False) -> None:
    line = Text(result.sender.ljust(40))
    if result.statuscode:
        line.append(STATUS_LABELS.get(result.statuscode, "Unknown Request Status"),
                    style=STATUS_STYLE.get(result.statuscode, "red"))
    console.print(line)
    if result.statusmsg and result.statusmsg != "OK":
        console.print(Text("   " + result.statusmsg, style="yellow"))
    if verbose and result.statuscode <= 1:
        console.print(Text(format_value(result.data)), markup=False)
    elif result.statuscode == 0:
        print_data(console, result.data, action)
    console.print()


def print_data(console: Console, data: Any, action: ActionDDL | None) -> None:
    if not isinstance(data, dict):
        console.print(Text("\t" + format_value(data)))
        return
    if not data:
        return
    labels = {}
    for key in data:
        out = action.outputs.get(key) if action is not None else None
        labels[key] = (out.display_as if out is not None and out.display_as else key)
    width = max(len(v) for v in labels.values())
    for key in sorted(data):
        label = labels[key].rjust(width + 3)
        text = format_value(data[key])
        pad = " " * (len(label) + 2)
        first, *rest = text.split("\n") or [""]
        console.print(Text(f"{label}: {first}"), markup=False)
        for more in rest:
            console.print(Text(pad + more), markup=False)


def columns(names: Sequence[str], width: int = 90) -> list[str]:
    """Names laid out in columns of at least 30 characters within ``width``."""
    if not names:
        return []
    colw = max(30, max(len(n) for n in names) + 2)
    per_line = max(1, width // colw)
    return ["".join(n.ljust(colw) for n in names[i:i + per_line]).rstrip()
            for i in range(0, len(names), per_line)]


def print_summary(console: Console, stats: RPCStats, *, verbose: bool = False,
                  caption: str = "rpc stats") -> None:
    if verbose:
        console.print(f"---- {caption} ----", markup=False)
        console.print(f"           Nodes: {stats.discovered} / {stats.responses}")
        console.print(f"     Pass / Fail: {stats.okcount} / {stats.failcount}")
        console.print("      Start Time: " + time.strftime(
            "%Y-%m-%d %H:%M:%S %z", time.localtime(stats.starttime)))
        console.print(f"  Discovery Time: {stats.discoverytime * 1000:.2f}ms")
        console.print(f"      Agent Time: {stats.blocktime * 1000:.2f}ms")
        console.print(f"      Total Time: {stats.totaltime * 1000:.2f}ms")
    else:
        agent_ms = stats.blocktime * 1000
        if stats.discovery_performed:
            style = "red" if stats.responses < stats.discovered else "green"
            console.print(Text(f"Finished processing {stats.responses} / {stats.discovered} "
                               f"hosts in {agent_ms:.2f} ms", style=style))
        else:
            console.print(Text(f"Finished processing {stats.responses} hosts in "
                               f"{agent_ms:.2f} ms", style="green"))
    print_node_lists(console, stats)


def print_node_lists(console: Console, stats: RPCStats) -> None:
    for title, names in (("No response from:", stats.noresponsefrom),
                         ("Unexpected response from:",
                          sorted(set(stats.unexpectedresponsefrom)))):
        if names:
            console.print()
            console.print(Text(title, style="red"))
            console.print()
            for line in columns(list(names)):
                console.print(Text("   " + line), markup=False)
            console.print()


def results_json(results: Iterable[Result]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in results]


def dump_json(console: Console, obj: Any) -> None:
    if console.is_terminal:
        console.print_json(json.dumps(obj, default=str))
    else:
        console.file.write(json.dumps(obj, default=str) + "\n")
        console.file.flush()
