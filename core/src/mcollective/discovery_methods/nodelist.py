"""Node lists as people and programs write them: text, JSON or YAML.

Shared by the ``flatfile`` and ``stdin`` methods, so a list that works in a file works
in a pipe. Accepted:

* text: one identity per line; blank lines and ``#`` comments (whole-line or trailing)
  are skipped;
* JSON: an array of identities, or of objects with ``sender`` (``mco rpc -j`` output),
  ``certname`` (PuppetDB) or ``identity``/``name``; or an object with such an array
  under ``replies`` (Choria's ``-j`` output) or ``nodes``;
* YAML: the same structures (a list of names is the usual case).

Every identity is validated: a typo in a hand-written list should fail loudly rather than
address a node called ``web1.example.net,``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mcollective.discovery import DiscoveryError, check_identity

FORMATS = ("auto", "text", "json", "yaml")
_NAME_KEYS = ("sender", "certname", "identity", "name")
_LIST_KEYS = ("replies", "nodes")


def detect_format(text: str) -> str:
    """``json`` when the text starts with ``[`` or ``{``; ``yaml`` when its first
    significant line is a list item or a document start; else ``text``."""
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        return "json"
    for line in stripped.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        return "yaml" if line.startswith(("- ", "---")) or line == "-" else "text"
    return "text"


def parse_node_list(text: str, *, source: str, format: str = "auto") -> list[str]:
    """The identities in ``text``, in order, without duplicates. ``source`` names the
    file or pipe in error messages."""
    if format not in FORMATS:
        raise DiscoveryError(f"unknown node list format {format!r}; use one of "
                             f"{', '.join(FORMATS)}")
    if format == "auto":
        format = detect_format(text)
    if format == "text":
        return list(dict.fromkeys(_text_lines(text, source)))
    try:
        data = json.loads(text) if format == "json" else _yaml().safe_load(text)
    except (ValueError, _yaml().YAMLError) as exc:
        raise DiscoveryError(f"{source}: not valid {format.upper()}: {exc}") from None
    if data is None:
        return []
    return list(dict.fromkeys(_structured(data, source)))


def _text_lines(text: str, source: str) -> Iterable[str]:
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            yield check_identity(line, f"{source} line {number}")


def _structured(data: Any, source: str) -> Iterable[str]:
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise DiscoveryError(f"{source}: expected a list of nodes (or an object with "
                                 f"'replies' or 'nodes'), got an object with keys "
                                 f"{', '.join(map(str, list(data)[:5]))}")
    if not isinstance(data, list):
        raise DiscoveryError(f"{source}: expected a list of nodes, got "
                             f"{type(data).__name__}")
    for index, item in enumerate(data):
        where = f"{source} item {index + 1}"
        if isinstance(item, dict):
            name = next((item[k] for k in _NAME_KEYS if k in item), None)
            if name is None:
                raise DiscoveryError(f"{where}: an object needs one of "
                                     f"{', '.join(_NAME_KEYS)}")
            yield check_identity(name, where)
        else:
            yield check_identity(item, where)


def _yaml() -> Any:
    """PyYAML, imported when a list is YAML (it costs a tenth of mco's start-up)."""
    import yaml

    return yaml

