"""``mco plugin generate agent|data``: write a new plugin distribution that works as
generated.

The result installs with ``pip install -e`` and answers ``mco rpc NAME ACTION`` without
edits: a pyproject with the ``mcollective.agents`` entry point, a package holding the
agent class, its DDL (declared with ``@action`` in Python by default, or a Choria JSON
file with ``ddl="json"``), a README and a test that starts a real daemon with
:class:`mcollective.testing.LocalCollective`. Each action echoes a ``message`` input so
there is something to see before the author writes the real code.

``mco plugin generate data NAME`` writes a data plugin distribution the same way: the
``mcollective.data`` entry point, a :class:`~mcollective.data.DataPlugin` with its JSON
DDL (one string query, outputs ``value`` and ``length``), a README and a test that
filters a real daemon with ``-S "NAME('hello').length=5"``.

The templates are files under ``plugin_templates/agent`` and ``plugin_templates/data``
(``string.Template`` placeholders), so the generated code can be read and changed as
code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from string import Template

from mcollective.ddl import AgentDDL, action_ddl, input_item, output_item
from mcollective.errors import MCollectiveError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PYTHON_KEYWORDS = frozenset({"class", "def", "import", "from", "pass", "return", "lambda",
                             "global", "async", "await", "with", "yield", "del", "try",
                             "for", "while", "if", "else", "elif", "in", "is", "not", "or",
                             "and", "as", "assert", "break", "continue", "except",
                             "finally", "nonlocal", "raise", "none", "true", "false"})


@dataclass(frozen=True)
class AgentScaffold:
    """What to generate. ``actions`` default to ``["echo"]``."""

    name: str
    actions: Sequence[str] = ("echo",)
    description: str = ""
    author: str = "unknown"
    license: str = "Apache-2.0"
    version: str = "0.1.0"
    url: str = ""
    timeout: int = 10
    ddl: str = "python"

    @property
    def package(self) -> str:
        return f"mcollective_agent_{self.name}"

    @property
    def classname(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_") if part) or "Agent"

    @property
    def directory_name(self) -> str:
        return f"mcollective-agent-{self.name}"


def check(spec: AgentScaffold, kind: str = "agent") -> None:
    """Refuse names that would not make a valid agent (or ``kind``), action or Python
    identifier."""
    for what, value in [(kind, spec.name), *(("action", a) for a in spec.actions)]:
        if not NAME_RE.match(value):
            raise MCollectiveError(f"invalid {what} name '{value}': use lower-case letters, "
                                   "digits and '_', starting with a letter")
        if value in PYTHON_KEYWORDS:
            raise MCollectiveError(f"invalid {what} name '{value}': it is a Python keyword")
    if not spec.actions:
        raise MCollectiveError("an agent needs at least one action")
    if len(set(spec.actions)) != len(spec.actions):
        raise MCollectiveError("an action is listed twice")
    if spec.ddl not in ("python", "json"):
        raise MCollectiveError(f"--ddl must be python or json, got {spec.ddl!r}")
    for what, value in (("description", spec.description), ("author", spec.author),
                        ("license", spec.license), ("version", spec.version),
                        ("url", spec.url)):
        if any(c in value for c in '"\\\n'):
            raise MCollectiveError(f"the {what} may not contain quotes, backslashes or "
                                   "line breaks")
    if spec.timeout < 1:
        raise MCollectiveError("the timeout must be at least 1 second")


def generate_agent(spec: AgentScaffold, parent: Path, *, force: bool = False) -> Path:
    """Write the distribution into ``parent/mcollective-agent-<name>`` and return it.

    An existing directory is refused unless ``force`` (then files are overwritten, other
    files left alone).
    """
    check(spec)
    root = Path(parent) / spec.directory_name
    if root.exists() and not force:
        raise MCollectiveError(f"{root} already exists (use --force to overwrite)")
    values = _values(spec)
    files = {
        "pyproject.toml": _render("pyproject.toml.tmpl", values),
        "README.md": _render("README.md.tmpl", values),
        f"src/{spec.package}/__init__.py": _render("__init__.py.tmpl", values),
        f"src/{spec.package}/agent.py": _render(f"agent_{spec.ddl}.py.tmpl", values),
        f"src/{spec.package}/py.typed": "",
        f"tests/test_{spec.name}.py": _render("test_agent.py.tmpl", values),
    }
    if spec.ddl == "json":
        files[f"src/{spec.package}/{spec.name}.json"] = json_ddl(spec) + "\n"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def generate_data(spec: AgentScaffold, parent: Path, *, force: bool = False) -> Path:
    """Write a data plugin distribution into ``parent/mcollective-data-<name>`` and
    return it (``spec.actions`` and ``spec.ddl`` are not used)."""
    spec = replace(spec, description=spec.description.rstrip(".")
                   or f"The {spec.name} data plugin")
    check(replace(spec, actions=("query",), ddl="json"), kind="data plugin")
    root = Path(parent) / f"mcollective-data-{spec.name}"
    if root.exists() and not force:
        raise MCollectiveError(f"{root} already exists (use --force to overwrite)")
    package = f"mcollective_data_{spec.name}"
    values = {**_values(replace(spec, actions=("query",))), "package": package,
              "classname": spec.classname + "Data"}
    files = {
        "pyproject.toml": _render("pyproject.toml.tmpl", values, kind="data"),
        "README.md": _render("README.md.tmpl", values, kind="data"),
        f"src/{package}/__init__.py": _render("__init__.py.tmpl", values, kind="data"),
        f"src/{package}/data.py": _render("data.py.tmpl", values, kind="data"),
        f"src/{package}/{spec.name}.json": data_ddl(spec) + "\n",
        f"src/{package}/py.typed": "",
        f"tests/test_{spec.name}.py": _render("test_data.py.tmpl", values, kind="data"),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def data_ddl(spec: AgentScaffold) -> str:
    """The generated data plugin's DDL, checked by :class:`DataDDL` like any other."""
    import json

    from mcollective.data import DATA_SCHEMA_URL, DataDDL

    doc = {
        "$schema": DATA_SCHEMA_URL,
        "metadata": {"name": spec.name, "description": _description(spec),
                     "author": spec.author, "license": spec.license,
                     "version": spec.version, "url": _url(spec), "timeout": spec.timeout},
        "query": {"prompt": "Query", "description": "TODO: what the query names",
                  "type": "string", "validation": "^.+$", "maxlength": 256,
                  "optional": False, "default": None},
        "output": {
            "value": {"description": "The query, as received", "display_as": "Value",
                      "type": "string"},
            "length": {"description": "How many characters the query has",
                       "display_as": "Length", "type": "integer"},
        },
    }
    DataDDL.from_dict(doc, source=f"data plugin '{spec.name}'")
    return json.dumps(doc, indent=2)


def json_ddl(spec: AgentScaffold) -> str:
    """The JSON DDL of the generated agent (``ddl="json"``), built and checked by
    :meth:`AgentDDL.build` like any DDL."""
    actions = [
        action_ddl(a, f"TODO: describe the {a} action", display="always",
                   inputs=[input_item("message", description="A message to echo back",
                                      optional=True, default="hello", maxlength=1024)],
                   outputs=[output_item("message", description="The message that was "
                                        "received", display_as="Message")])
        for a in spec.actions
    ]
    ddl = AgentDDL.build(name=spec.name, description=_description(spec), author=spec.author,
                         license=spec.license, version=spec.version, url=_url(spec),
                         timeout=spec.timeout, actions=actions)
    return ddl.to_json()


def _values(spec: AgentScaffold) -> dict[str, str]:
    action_tmpl = f"action_{spec.ddl}.py.tmpl"
    values = {
        "name": spec.name, "package": spec.package, "classname": spec.classname,
        "description": _description(spec), "author": spec.author, "license": spec.license,
        "version": spec.version, "url": _url(spec), "timeout": str(spec.timeout),
        "first_action": spec.actions[0], "action_list": ", ".join(spec.actions),
        "sorted_actions": repr(sorted(spec.actions)),
        "core_requirement": core_requirement(),
        "core_testing_requirement": core_requirement().replace(
            "mcollective-core", "mcollective-core[testing]", 1),
        "ddl_note": (
            "Actions and their inputs/outputs are declared with `@action` in "
            f"`src/{spec.package}/agent.py`; the DDL is generated from them."
            if spec.ddl == "python" else
            f"The DDL is `src/{spec.package}/{spec.name}.json` (Choria's JSON format): "
            "declare every action, input and output there."),
    }
    values["actions"] = "".join("\n" + _render(action_tmpl, {**values, "action": a})
                                for a in spec.actions).rstrip("\n")
    return values


def core_requirement(version: str | None = None) -> str:
    """The requirement a plugin puts on core: this version or later, below the next
    version that may break plugins (the next minor while the major version is 0, as
    semantic versioning allows; the next major after that)."""
    if version is None:
        from mcollective import __version__

        version = __version__
    major, minor = (int(part) for part in re.findall(r"\d+", version)[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"mcollective-core>={major}.{minor}.0,<{upper}"


def _description(spec: AgentScaffold) -> str:
    # Without its final full stop: the templates add one where a sentence needs it.
    return (spec.description or f"The {spec.name} agent").rstrip(".")


def _url(spec: AgentScaffold) -> str:
    return spec.url or f"https://example.com/{spec.directory_name}"


def _render(template: str, values: dict[str, str], *, kind: str = "agent") -> str:
    text = (resources.files("mcollective.cli.apps").joinpath("plugin_templates")
            .joinpath(kind).joinpath(template).read_text(encoding="utf-8"))
    return Template(text).substitute(values).rstrip("\n") + "\n"


__all__ = ["AgentScaffold", "check", "core_requirement", "data_ddl", "generate_agent",
           "generate_data", "json_ddl"]
