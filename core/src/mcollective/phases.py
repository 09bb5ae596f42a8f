"""Phase marks: where one ``mco`` run spends its time (for ``bench/cli.py``).

Off unless a benchmark switches it on with :func:`enable`: :func:`mark` is then one
global test, so the marks can stay in the code paths they describe (connect, discovery,
the request, output, close). When on, each mark records the wall-clock time and the
seconds spent importing modules so far (counted by the benchmark's wrapper), so that a
phase's own work can be told from the imports it triggered; :func:`dump` writes them as
JSON lines to the file named when enabling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

_marks: list[tuple[str, float, float]] | None = None


def _no_imports() -> float:
    return 0.0


_imports: Callable[[], float] = _no_imports
_path: str | None = None


def enable(path: str, imports: Callable[[], float] | None = None) -> None:
    """Record marks from now on, and write them to ``path`` at :func:`dump`.
    ``imports`` returns the seconds spent importing so far."""
    global _marks, _path, _imports
    _marks, _path = [], path
    if imports is not None:
        _imports = imports


def enabled() -> bool:
    return _marks is not None


def mark(name: str) -> None:
    """Note that ``name`` happened now (nothing when not enabled)."""
    if _marks is not None:
        _marks.append((name, time.time(), _imports()))


def dump() -> None:
    """Write the marks (once); called on the way out of ``mco``."""
    global _marks
    if _marks is None or _path is None:
        return
    marks, _marks = _marks, None
    with open(_path, "w", encoding="utf-8") as out:
        for name, at, imported in marks:
            out.write(json.dumps({"mark": name, "time": at, "imports": imported}) + "\n")
