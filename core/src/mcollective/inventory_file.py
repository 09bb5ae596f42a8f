"""The inventory file: every node's facts, classes, agents and collectives in one file.

Written by the ``registration`` receiver agent, read by the ``inventory`` discovery
method, editable by hand. YAML (or JSON when the file name ends in ``.json``)::

    nodes:
      web1.example.net:
        facts: {country: uk, role: web}
        classes: [apache, base]
        agents: [discovery, rpcutil]
        collectives: [mcollective]
    groups:            # optional, kept as found: the receiver never writes it
      web: [web1.example.net]

This is the layout :mod:`mcollective.discovery_methods.inventory` reads (it also reads
Choria's, with ``nodes`` and ``groups`` as lists of ``name:`` entries; such a file is
read here too, and its groups are kept exactly as written).

Writes are atomic (a temporary file in the same directory renamed over the old one), so
a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Per-node keys, in the order they are written.
NODE_KEYS = ("facts", "classes", "agents", "collectives")


def file_format(path: Path) -> str:
    """``json`` for ``*.json`` files, ``yaml`` for anything else."""
    return "json" if path.suffix.lower() == ".json" else "yaml"


def read_inventory(path: Path) -> dict[str, Any]:
    """The parsed file as ``{"nodes": {...}, "groups": {...}}``; a missing or empty file
    is an empty inventory. Raises ``ValueError`` naming the file when it cannot be
    parsed or has the wrong shape."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"nodes": {}, "groups": {}}
    try:
        data = json.loads(text) if file_format(path) == "json" else yaml.load(text, _Loader)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot parse the inventory: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the inventory must be a mapping with a 'nodes' key")
    nodes = data.get("nodes") or {}
    if isinstance(nodes, list):  # Choria's layout: [{name: ..., facts: ...}, ...]
        nodes = {n["name"]: {k: v for k, v in n.items() if k != "name"}
                 for n in nodes if isinstance(n, dict) and isinstance(n.get("name"), str)}
    groups = data.get("groups") or {}
    if not isinstance(nodes, dict) or not isinstance(groups, dict | list):
        raise ValueError(f"{path}: 'nodes' must be a mapping (or a list of named "
                         "entries) and 'groups' a mapping or a list")
    return {"nodes": nodes, "groups": groups}


def write_inventory(path: Path, nodes: Mapping[str, Mapping[str, Any]],
                    groups: Mapping[str, Any] | list[Any] | None = None) -> None:
    """Replace ``path`` atomically with ``nodes`` (sorted by identity) and ``groups``."""
    doc: dict[str, Any] = {
        "nodes": {name: {key: nodes[name].get(key, {} if key == "facts" else [])
                         for key in NODE_KEYS}
                  for name in sorted(nodes)},
    }
    if groups:
        doc["groups"] = groups
    if file_format(path) == "json":
        text = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    else:
        text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # clients running as other users read it for discovery
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
