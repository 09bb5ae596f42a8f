"""docs/filters.md stays true: every -F and -S example in it parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mcollective.filters import parse_compound, parse_fact_filter

DOC = Path(__file__).resolve().parents[1] / "docs" / "filters.md"


def _examples(option: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    found: list[str] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line.split("  #")[0], posix=True)
            found += [words[i + 1] for i, w in enumerate(words[:-1]) if w == option]
    return found


@pytest.mark.parametrize("text", _examples("-F"))
def test_fact_examples_parse(text: str) -> None:
    parse_fact_filter(text)


@pytest.mark.parametrize("text", _examples("-S"))
def test_compound_examples_parse(text: str) -> None:
    parse_compound(text)


def test_examples_were_found() -> None:
    assert len(_examples("-F")) >= 8 and len(_examples("-S")) >= 10
