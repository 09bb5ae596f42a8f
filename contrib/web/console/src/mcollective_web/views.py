"""What pages show, computed from replies: value formatting, the fleet table (fact
columns, sorting, filtering), fact trees and chart rows. Pure functions: everything
here is text; escaping is the templates' job (autoescape) and the script's
(``textContent``)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote as _quote

from mcollective.errors import STATUS_LABELS
from mcollective.facts_lookup import lookup_fact

#: Bars shown per chart; the rest are summed into "other".
CHART_ROWS = 12
DEFAULT_COLUMNS = 5


def quote(text: Any) -> str:
    return _quote(str(text), safe="/")


def show(value: Any) -> str:
    """A reply value as text: JSON for structures, ``true``/``false``, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)
    return str(value)


def when(stamp: float | None) -> str:
    if not stamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def status_label(code: int | None) -> str:
    return STATUS_LABELS.get(code or 0, f"status {code}")


# --- facts ------------------------------------------------------------------------------


def flatten(facts: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a fact tree as ``(dotted.path, value)``, in key order."""
    out: list[tuple[str, Any]] = []
    if isinstance(facts, Mapping):
        for key in sorted(facts, key=str):
            out += flatten(facts[key], f"{prefix}{key}.")
    elif isinstance(facts, list) and facts and any(isinstance(v, dict | list)
                                                   for v in facts):
        for i, item in enumerate(facts):
            out += flatten(item, f"{prefix}{i}.")
    else:
        out.append((prefix[:-1], facts))
    return out


def tree(facts: Any, path: str = "") -> list[dict[str, Any]]:
    """Facts as nested nodes for the node page: ``{key, path, value | children}``."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(facts, Mapping):
        items = sorted(facts.items(), key=lambda kv: str(kv[0]))
    else:
        items = enumerate(facts)
    out = []
    for key, value in items:
        full = f"{path}.{key}" if path else str(key)
        if isinstance(value, dict | list) and value and (
                isinstance(value, dict) or any(isinstance(v, dict | list) for v in value)):
            out.append({"key": str(key), "path": full, "children": tree(value, full)})
        else:
            out.append({"key": str(key), "path": full, "value": show(value)})
    return out


# --- the fleet table ------------------------------------------------------------------------


def fleet_rows(replies: list[dict[str, Any]], versions: list[dict[str, Any]] | None = None
               ) -> list[dict[str, Any]]:
    """One row per node that answered the inventory: facts, classes, agents (with
    versions when ``versions`` holds the agent_inventory replies)."""
    agent_versions: dict[str, dict[str, str]] = {}
    for reply in versions or []:
        data = reply.get("data") or {}
        if reply.get("statuscode") == 0 and isinstance(data, dict):
            agent_versions[reply["sender"]] = {
                str(a.get("agent")): str(a.get("version", ""))
                for a in data.get("agents") or [] if isinstance(a, dict)}
    rows = []
    for reply in replies:
        data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
        assert isinstance(data, dict)
        ok = reply.get("statuscode") == 0
        facts = data.get("facts") if isinstance(data.get("facts"), dict) else {}
        rows.append({
            "identity": reply["sender"], "ok": ok, "statusmsg": reply.get("statusmsg"),
            "facts": facts, "classes": list(data.get("classes") or []),
            "agents": list(data.get("agents") or []),
            "versions": agent_versions.get(reply["sender"], {}),
            "collectives": list(data.get("collectives") or []),
            "version": data.get("version"),
        })
    return rows


def fact_paths(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Every scalar fact path with how many nodes have it, most common first."""
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update(path for path, _ in flatten(row["facts"]))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def default_columns(rows: list[dict[str, Any]]) -> list[str]:
    return [path for path, _ in fact_paths(rows)[:DEFAULT_COLUMNS]]


def cell(row: dict[str, Any], column: str) -> Any:
    if column == "identity":
        return row["identity"]
    return lookup_fact(row["facts"], column)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers (by value) before text; missing values last."""
    if value is None:
        return (2, "")
    if isinstance(value, bool):
        return (1, str(value).lower())
    if isinstance(value, int | float):
        return (0, value)
    try:
        return (0, float(str(value)))
    except ValueError:
        return (1, show(value).lower())


def select(rows: list[dict[str, Any]], columns: list[str], *, query: str = "",
           sort: str = "identity", descending: bool = False) -> list[dict[str, Any]]:
    """Rows whose identity or shown columns contain ``query`` (any case), sorted by
    ``sort`` (numbers numerically)."""
    needle = query.strip().lower()
    if needle:
        rows = [r for r in rows if needle in r["identity"].lower() or any(
            needle in show(cell(r, c)).lower() for c in columns)]
    return sorted(rows, key=lambda r: (_sort_key(cell(r, sort)), r["identity"]),
                  reverse=descending)


def chart(counts: Mapping[str, int], limit: int = CHART_ROWS) -> list[dict[str, Any]]:
    """Rows ``{label, count, percent}`` for a bar chart, largest first; the tail beyond
    ``limit`` becomes one ``(N others)`` row."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ordered) > limit:
        rest = ordered[limit - 1:]
        ordered = [*ordered[:limit - 1], (f"({len(rest)} others)",
                                          sum(c for _, c in rest))]
    top = max((c for _, c in ordered), default=0) or 1
    return [{"label": label, "count": count, "percent": round(100 * count / top, 1)}
            for label, count in ordered]


def fact_chart(rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    return chart(Counter(show(cell(r, column)) or "(none)" for r in rows))


def agent_chart(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return chart(Counter(a for r in rows for a in r["agents"]), limit=40)


def version_charts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per agent, how many nodes run which version of it."""
    per_agent: dict[str, Counter[str]] = {}
    for row in rows:
        for agent, version in row["versions"].items():
            per_agent.setdefault(agent, Counter())[version or "(unknown)"] += 1
    return [{"agent": agent, "rows": chart(counts)}
            for agent, counts in sorted(per_agent.items())]


def summary_charts(summaries: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The DDL aggregates of a request as charts (collections and charts) or lines
    (numbers), formatted as ``mco rpc`` formats them."""
    from mcollective.aggregate import AggregateError, AggregateResult

    out: list[dict[str, Any]] = []
    for item in (summaries or {}).get("results") or []:
        title = f"{item.get('function')} of {item.get('output')}"
        try:
            result = AggregateResult(**{k: item.get(k) for k in (
                "output", "function", "type", "value", "format")})
            lines = result.lines()
        except (AggregateError, TypeError):
            lines = [show(item.get("value"))]
        if item.get("type") == "collection" and isinstance(item.get("value"), dict):
            rows = chart({str(k): int(v) for k, v in item["value"].items()
                          if isinstance(v, int | float)}, limit=40)
        elif item.get("type") == "chart" and isinstance(item.get("value"), list):
            rows = chart({str(r[0]): int(r[1]) for r in item["value"]
                          if isinstance(r, list) and len(r) == 2
                          and isinstance(r[1], int | float)}, limit=40)
        else:
            rows = []
        out.append({"title": title, "rows": rows, "lines": lines})
    for failure in (summaries or {}).get("failures") or []:
        out.append({"title": f"{failure.get('function')} of {failure.get('output')}",
                    "rows": [], "lines": [f"could not compute: {failure.get('reason')}"]})
    return out
