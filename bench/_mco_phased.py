"""``mco``, with phase marks on (run by bench/cli.py; not a user's command).

Does what the ``mco`` console script does, after noting when the interpreter was ready
and counting the time spent importing modules (outermost imports only, through both
``import`` statements and :func:`importlib.import_module`, which entry points use).
The marks go to the file named by ``MCO_PHASES``.
"""

import time

READY = time.time()

import builtins  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

_spent = [0.0]
_depth = [0]


def _timed(fn):  # type: ignore[no-untyped-def]
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        if _depth[0]:
            return fn(*args, **kwargs)
        _depth[0] += 1
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _spent[0] += time.perf_counter() - began
            _depth[0] -= 1
    return wrapper


builtins.__import__ = _timed(builtins.__import__)
importlib.import_module = _timed(importlib.import_module)

from mcollective import phases  # noqa: E402

phases.enable(os.environ["MCO_PHASES"], lambda: _spent[0])
phases._marks.append(("ready", READY, 0.0))  # type: ignore[union-attr]
from mcollective.cli.main import main  # noqa: E402

sys.exit(main())
