"""The docs stay in step with the code: every hook spec has its section, with the
exact argument list, in docs/plugin_hooks.md (as datasette enforces)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from mcollective.hookspecs import SPEC_MODULES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def specs() -> list[tuple[str, str]]:
    out = []
    for module in SPEC_MODULES:
        for name, fn in inspect.getmembers(importlib.import_module(module), inspect.isfunction):
            if name.startswith("mco_"):
                args = ", ".join(inspect.signature(fn).parameters)
                out.append((name, args))
    return out


@pytest.mark.parametrize(("hook", "args"), specs())
def test_every_hook_is_documented(hook: str, args: str) -> None:
    text = (DOCS / "plugin_hooks.md").read_text(encoding="utf-8")
    assert f"## {hook}({args})" in text


def test_docs_index_links_resolve() -> None:
    import re

    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", index):
        if not target.startswith("http"):
            assert (DOCS / target).exists(), target
