"""Reading one facts file: YAML in, a JSON-ready mapping of facts out.

Facts travel in replies (``rpcutil get_facts``, inventory) and registration messages,
which are JSON, so a few YAML types are turned into what JSON can carry: timestamps stay
the text that was written, ``!!binary`` becomes base64 text, sets become lists, keys
become strings the way JSON would write them, and non-finite floats become text.
Everything else, nested mappings and lists included, is kept as it is.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from pathlib import Path
from typing import Any

import yaml

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


class FactsLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """``yaml.safe_load``'s loader (libyaml's when available), keeping timestamps as
    the text written: ``2024-01-31`` is a fact value to compare as text, and a
    ``datetime.date`` could not be sent as JSON."""

    yaml_constructors = {
        **_BaseLoader.yaml_constructors,
        "tag:yaml.org,2002:timestamp": _timestamp_as_text,
    }


class FactsFileError(Exception):
    """A facts file could not be used; the message names the file and, where known,
    the line."""


class _Recursive(Exception):
    pass


def _where(path: Path, mark: yaml.Mark | None) -> str:
    if mark is None:
        return str(path)
    return f"{path} line {mark.line + 1} column {mark.column + 1}"


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)  # as JSON writes a non-string key: 1 -> "1", true -> "true"
    return str(key)


def _plain(value: Any, memo: dict[int, Any], active: set[int]) -> Any:
    """``value`` with only JSON types; aliases stay shared instead of being copied, so
    a file full of aliases cannot blow up in memory."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    ident = id(value)
    if ident in memo:
        return memo[ident]
    if ident in active:
        raise _Recursive
    active.add(ident)
    try:
        out: Any
        if isinstance(value, dict):
            out = {_key(k): _plain(v, memo, active) for k, v in value.items()}
        elif isinstance(value, list | tuple):
            out = [_plain(v, memo, active) for v in value]
        elif isinstance(value, set | frozenset):
            out = sorted((_plain(v, memo, active) for v in value), key=json.dumps)
        elif isinstance(value, bytes):
            out = base64.b64encode(value).decode("ascii")
        elif isinstance(value, datetime.date):
            out = value.isoformat()
        else:
            out = str(value)
    finally:
        active.discard(ident)
    memo[ident] = out
    return out


def parse_facts(data: bytes | str, path: Path) -> dict[str, Any]:
    """The facts in ``data`` (the contents of ``path``); FactsFileError if unusable."""
    loader = FactsLoader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            # Also what a reader sees while a writer has truncated the file and not yet
            # written it (`facter -y > facts.yaml`): never take that for "no facts".
            raise FactsFileError(f"{path} is empty (write '{{}}' for a file with no facts)")
        if not isinstance(node, yaml.MappingNode):
            kind = "list" if isinstance(node, yaml.SequenceNode) else "single value"
            raise FactsFileError(f"{_where(path, node.start_mark)}: the top level is a "
                                 f"{kind}, not a mapping of fact names to values")
        value = loader.construct_document(node)
        facts: dict[str, Any] = _plain(value, {}, set())
        return facts
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise FactsFileError(f"{_where(path, mark)}: {problem}") from None
    except yaml.YAMLError as exc:  # ReaderError: bad encoding or control characters
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        position = getattr(exc, "position", None)
        at = f" (byte {position})" if position is not None else ""
        raise FactsFileError(f"{path}: {reason}{at}") from None
    except _Recursive:
        raise FactsFileError(f"{path}: an alias refers to itself (a recursive "
                             "structure cannot be a fact)") from None
    except RecursionError:
        raise FactsFileError(f"{path}: nested too deeply") from None
    finally:
        loader.dispose()


def load_facts_file(path: Path) -> dict[str, Any]:
    """Read and parse ``path``; FactsFileError for unreadable or invalid files."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FactsFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_facts(data, path)
