"""Parsing one file: safe loading, JSON-ready values, errors with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mcollective_facts_yaml.loader import FactsFileError, FactsLoader, parse_facts

PATH = Path("/etc/mcollective/facts.yaml")


def test_uses_libyaml_when_available() -> None:
    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(FactsLoader, yaml.CSafeLoader)
    assert yaml.SafeLoader.yaml_constructors["tag:yaml.org,2002:timestamp"] \
        is not FactsLoader.yaml_constructors["tag:yaml.org,2002:timestamp"]


def test_values_are_json_ready() -> None:
    facts = parse_facts(b"""
installed: 2024-01-31
updated: 2024-01-31 12:30:00Z
blob: !!binary aGVsbG8=
tags: !!set {b, a}
1: one
false: yes
3.5: x
null: nothing
weird: .nan
big: .inf
nested: {2: two, list: [2001-02-03]}
""", PATH)
    assert facts["installed"] == "2024-01-31"
    assert facts["updated"] == "2024-01-31 12:30:00Z"
    assert facts["blob"] == "aGVsbG8="
    assert facts["tags"] == ["a", "b"]
    assert facts["1"] == "one"
    assert facts["false"] is True
    assert facts["3.5"] == "x"
    assert facts["null"] == "nothing"
    assert facts["weird"] == "nan"
    assert facts["big"] == "inf"
    assert facts["nested"] == {"2": "two", "list": ["2001-02-03"]}
    json.dumps(facts, allow_nan=False)  # what the wire protocol does


def test_aliases_are_shared_not_copied() -> None:
    doc = "base: &b {x: [1, 2]}\n" + "".join(f"k{i}: *b\n" for i in range(100))
    facts = parse_facts(doc, PATH)
    assert facts["k0"] is facts["base"] and facts["k99"] == {"x": [1, 2]}


def test_unicode_and_utf16() -> None:
    assert parse_facts("city: Zürich\n".encode(), PATH) == {"city": "Zürich"}
    assert parse_facts("city: Zürich\n".encode("utf-16"), PATH) == {"city": "Zürich"}


def test_unsafe_tags_are_refused() -> None:
    with pytest.raises(FactsFileError, match=r"facts.yaml line 1 column 4"):
        parse_facts(b"x: !!python/name:os.system\n", PATH)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(FactsFileError):
        parse_facts(b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", PATH)


def test_error_message_shape() -> None:
    with pytest.raises(FactsFileError) as info:
        parse_facts(b"a: 1\nb: [\n", PATH)
    assert str(info.value).startswith(f"{PATH} line 3 column 1: ")
