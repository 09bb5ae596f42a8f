"""``mco inventory --script FILE``: one formatted line per node, from a small Python file.

MCollective's inventory DSL (``inventory { format "%s\\t%s"; fields { [identity,
facts["x"]] } }``) becomes a Python file with the same two ideas::

    # report.py — mco inventory --script report.py [filters]
    heading = "Node                            OS family   Classes"
    format = "{identity:30}  {facts[os.family]:10}  {classes}"

``format`` is a :meth:`str.format` template over the node's fields: ``identity``,
``facts`` (``facts[os.family]`` walks structured facts; a missing fact is empty),
``classes``, ``agents``, ``collectives`` and ``data_plugins`` (lists, printed comma
separated), ``main_collective`` and ``version``. For full control define ``fields``,
which receives the node and returns the values for a printf-style ``format``, exactly
like the original::

    format = "%-30s %s"

    def fields(node):
        return node.identity, len(node.agents)

The file is Python run on *your* machine, as the original DSL was Ruby: write it
yourself. Node data from the network is only ever substituted into the template, never
evaluated.
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcollective.errors import MCollectiveError
from mcollective.facts_lookup import lookup_fact

_MISSING = object()


class Words(list[str]):
    """A list that prints as ``a, b, c`` (in templates and with ``str``)."""

    def __str__(self) -> str:
        return ", ".join(str(item) for item in self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class Facts(Mapping[str, Any]):
    """Facts by (dotted) name. ``facts["os.family"]`` is ``""`` when the fact is
    missing, so one node without it does not stop the report; ``get`` and ``in`` tell
    the difference."""

    def __init__(self, facts: Mapping[str, Any]) -> None:
        self.raw = facts

    def __getitem__(self, name: str) -> Any:
        value = lookup_fact(self.raw, name, _MISSING)
        return "" if value is _MISSING or value is None else value

    def get(self, name: str, default: Any = None) -> Any:
        value = lookup_fact(self.raw, name, _MISSING)
        return default if value is _MISSING else value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and lookup_fact(self.raw, name, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass
class InventoryNode:
    """One node's ``rpcutil inventory`` reply, as scripts see it."""

    identity: str
    facts: Facts
    classes: Words = field(default_factory=Words)
    agents: Words = field(default_factory=Words)
    collectives: Words = field(default_factory=Words)
    data_plugins: Words = field(default_factory=Words)
    main_collective: str = ""
    version: str = ""

    @classmethod
    def from_reply(cls, identity: str, data: Mapping[str, Any]) -> InventoryNode:
        def words(key: str) -> Words:
            value = data.get(key) or []
            return Words(str(v) for v in value) if isinstance(value, list) else Words()

        facts = data.get("facts")
        return cls(identity=identity, facts=Facts(facts if isinstance(facts, dict) else {}),
                   classes=words("classes"), agents=words("agents"),
                   collectives=words("collectives"), data_plugins=words("data_plugins"),
                   main_collective=str(data.get("main_collective") or ""),
                   version=str(data.get("version") or ""))

    def fields(self) -> dict[str, Any]:
        return {"identity": self.identity, "facts": self.facts, "classes": self.classes,
                "agents": self.agents, "collectives": self.collectives,
                "data_plugins": self.data_plugins, "main_collective": self.main_collective,
                "version": self.version, "node": self}


@dataclass
class InventoryScript:
    """A loaded script: ``format``, optional ``fields`` and ``heading``."""

    path: str
    format: str
    fields: Any = None
    heading: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> InventoryScript:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise MCollectiveError(f"inventory script {path} does not exist") from None
        except OSError as exc:
            raise MCollectiveError(f"inventory script {path}: cannot read: "
                                   f"{exc.strerror or exc}") from None
        if RUBY_DSL.search(text):
            raise MCollectiveError(ruby_dsl_message(str(path), text))
        try:
            namespace = runpy.run_path(str(path), run_name="mco_inventory_script")
        except FileNotFoundError:
            raise MCollectiveError(f"inventory script {path} does not exist") from None
        except Exception as exc:
            raise MCollectiveError(f"inventory script {path} failed to load: "
                                   f"{type(exc).__name__}: {exc}") from None
        fmt = namespace.get("format")
        if not isinstance(fmt, str):
            raise MCollectiveError(f"inventory script {path} must set format to a string, "
                                   'e.g. format = "{identity:30} {facts[os.family]}"')
        fields = namespace.get("fields")
        if fields is not None and not callable(fields):
            raise MCollectiveError(f"inventory script {path}: fields must be a function "
                                   "taking the node")
        heading = namespace.get("heading")
        return cls(str(path), fmt, fields, None if heading is None else str(heading))

    def render(self, node: InventoryNode) -> str:
        try:
            if self.fields is not None:
                values = self.fields(node)
                return self.format % (tuple(values) if isinstance(values, list | tuple)
                                      else (values,))
            return self.format.format_map(node.fields())
        except Exception as exc:
            raise MCollectiveError(f"inventory script {self.path} failed for "
                                   f"{node.identity}: {type(exc).__name__}: {exc}") from None


#: MCollective's Ruby inventory DSL: ``inventory do`` (or ``inventory {``) at a line start.
RUBY_DSL = re.compile(r"^\s*inventory\s*(?:do\b|\{)", re.M)
_RUBY_FORMAT = re.compile(r"""^\s*format\s*\(?\s*("(?:[^"\\]|\\.)*"|'[^']*')""", re.M)
_RUBY_FIELDS = re.compile(r"fields\s*(?:\{|do\b)\s*\[(.*?)\]\s*(?:\}|end\b)", re.S)
_RUBY_FIELD = re.compile(r"""^(identity|classes|agents|collectives|data_plugins|version|
                             main_collective|facts\[\s*(["'])([^"']+)\2\s*\])$""", re.X)


def ruby_dsl_message(path: str, text: str) -> str:
    """Why a Ruby inventory script cannot run, and the Python file to write instead:
    translated when the script is the usual ``format "..."`` plus ``fields { [...] }``
    over identity, facts, classes and agents; the general shape otherwise."""
    head = (f"inventory script {path} is written in MCollective's Ruby inventory DSL "
            "(inventory do ... end); this mco runs a Python file instead, setting format "
            "(and optionally fields(node) and heading)")
    fmt = _RUBY_FORMAT.search(text)
    found = _RUBY_FIELDS.search(text)
    values: list[str] = []
    if found:
        for token in (t.strip() for t in found.group(1).split(",")):
            match = _RUBY_FIELD.match(token)
            if match is None:
                values = []
                break
            fact = match.group(3)
            values.append(f"node.facts[{fact!r}]" if fact is not None else f"node.{token}")
    if fmt and values:
        body = fmt.group(1)
        if body.startswith("'"):
            body = repr(body[1:-1])
        suggestion = (f"format = {body}\n\n"
                      f"def fields(node):\n    return {', '.join(values)}")
        return f"{head}. The same report in Python:\n\n{suggestion}\n"
    return (f"{head}, e.g.:\n\nformat = \"%-30s %s\"\n\ndef fields(node):\n"
            "    return node.identity, node.facts[\"os.family\"]\n\n"
            "(format = \"{identity:30} {facts[os.family]}\" alone does the same; see "
            "'mco inventory --script' in docs/discovery.md)")
