"""Agent DDLs as Python objects: loading, building, request validation and typing.

The DDL is the contract between client and server. The same objects serve both sides:

* the server calls :meth:`ActionDDL.validate` on every request before the action runs
  (missing input → status 3, invalid input → status 4), so everything a request needs is
  prepared once, when the DDL is loaded: type checks, regexes, list choices, mutable
  output defaults;
* the client calls :meth:`ActionDDL.coerce` on ``mco rpc`` ``key=value`` strings, then
  :meth:`ActionDDL.validate`, so that a mistake is reported before anything is sent;
* replies get :meth:`ActionDDL.merge_output_defaults`, and ``mco plugin doc`` renders
  :func:`mcollective.ddl.render_help`.

The objects are frozen: a DDL is shared by every request of the agent and must not
change under them.
"""

from __future__ import annotations

import builtins
import copy
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mcollective.ddl.schema import (
    DISPLAY_VALUES,
    INPUT_TYPES,
    SCHEMA_URL,
    VALIDATOR_NAME_RE,
    check_document,
)
from mcollective.errors import DDLError, DDLValidationError, UnknownRPCAction, ValidatorError
from mcollective.regex import Pattern, PatternError
from mcollective.validators import BUILTIN, Resolver, Validator, ruby_regex, typecheck

log = logging.getLogger("mcollective.ddl")

Display = Literal["ok", "failed", "always"]


class DDLFormatError(DDLError):
    """A DDL document is malformed. ``source`` names the file (or the agent, for a DDL
    built in Python) and ``problems`` lists every problem, each naming its field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {'; '.join(problems)}")


# --- the items ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InputItem:
    """One input of an action, as in the JSON DDL's ``input`` object.

    ``type`` is stored lower-case (real DDLs have both ``hash`` and ``Hash``). A string input
    without ``validation`` gets ``".*"`` (accept anything) because the JSON format requires
    one; ``maxlength`` 0 means unlimited.
    """

    name: str
    prompt: str
    description: str
    type: str = "string"
    optional: bool = False
    default: Any = None
    validation: str | None = None
    maxlength: int = 0
    list: builtins.list[str] | None = None

    def __post_init__(self) -> None:
        kind = self.type.lower() if isinstance(self.type, str) else self.type
        if kind not in INPUT_TYPES:
            raise DDLError(f"input '{self.name}': type must be one of "
                           f"{', '.join(INPUT_TYPES)}, got {self.type!r}")
        object.__setattr__(self, "type", kind)
        if kind == "string" and self.validation is None:
            object.__setattr__(self, "validation", ".*")
        if kind == "list" and not self.list:
            raise DDLError(f"input '{self.name}': a list input needs its 'list' of choices")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt": self.prompt,
            "description": self.description,
            "type": self.type,
            "default": self.default,
            "optional": self.optional,
        }
        if self.type == "string" or self.validation is not None:
            out["validation"] = self.validation
        if self.type == "string" or self.maxlength:
            out["maxlength"] = self.maxlength
        if self.list is not None:
            out["list"] = builtins.list(self.list)
        return out


@dataclass(frozen=True)
class OutputItem:
    """One output of an action: its label in text output (``display_as``), the default
    merged into replies that lack it, and an optional type (absent in most real DDLs).

    The default is kept as written even when it does not fit the type (the puppet agent's
    integer ``since_lastrun`` defaults to ``"Unknown"``), as Choria does."""

    name: str
    description: str
    display_as: str
    default: Any = None
    type: str | None = None

    def __post_init__(self) -> None:
        if self.type is not None:
            kind = self.type.lower()
            if kind not in INPUT_TYPES:
                raise DDLError(f"output '{self.name}': type must be one of "
                               f"{', '.join(INPUT_TYPES)}, got {self.type!r}")
            object.__setattr__(self, "type", kind)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "description": self.description,
            "display_as": self.display_as,
            "default": self.default,
        }
        if self.type is not None:
            out["type"] = self.type
        return out


@dataclass(frozen=True)
class AggregateSpec:
    """A client-side summary: aggregate plugin ``function`` over reply output ``output``,
    with ``options`` such as ``format`` or label maps (``{"true": "enabled"}``)."""

    function: str
    output: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        args: builtins.list[Any] = [self.output]
        if self.options:
            args.append(dict(self.options))
        return {"function": self.function, "args": args}


@dataclass(frozen=True)
class AgentMetadata:
    """The DDL's ``metadata``. ``timeout`` (seconds) bounds each action on the server and
    sets how long clients wait."""

    name: str
    description: str
    author: str
    license: str
    version: str
    url: str
    timeout: int
    provider: str | None = None
    service: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "author": self.author,
            "license": self.license,
            "version": self.version,
            "url": self.url,
            "timeout": self.timeout,
        }
        if self.provider is not None:
            out["provider"] = self.provider
        if self.service is not None:
            out["service"] = self.service
        return out


# --- compiled input rules -------------------------------------------------------------------


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Rule:
    """Everything needed to check one input, prepared once per DDL."""

    __slots__ = ("builtin", "choices", "default", "maxlength", "mutable_default", "name",
                 "optional", "pattern", "plugin", "regex", "to_float", "typecheck")

    def __init__(self, item: InputItem) -> None:
        self.name = item.name
        self.optional = item.optional
        self.default = item.default
        self.mutable_default = isinstance(item.default, dict | list)
        self.typecheck: Validator | None = (
            None if item.type == "list" else typecheck(item.type)
        )
        self.choices: builtins.list[str] | None = item.list if item.type == "list" else None
        self.to_float = item.type == "float"
        self.maxlength = item.maxlength if item.type == "string" else 0
        self.builtin: Validator | None = None
        self.plugin: str | None = None
        self.regex: Pattern | None = None
        validation = item.validation if item.type == "string" else None
        self.pattern = validation  # as written in the DDL, for messages
        if validation:
            if validation in BUILTIN:
                self.builtin = BUILTIN[validation]
            elif VALIDATOR_NAME_RE.match(validation):
                self.plugin = validation
            elif validation != ".*":  # matches everything: skip the work
                try:
                    self.regex = ruby_regex(validation)
                except PatternError as exc:
                    raise DDLError(f"input '{item.name}': 'validation' is not a valid "
                                   f"regular expression ({exc}): {validation!r}") from None


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionDDL:
    """One action: its inputs and outputs, how clients display its results (``display``:
    ``ok``, ``failed`` — the default — or ``always``) and its aggregates.

    ``agent`` is the owning agent's name, filled in by :class:`AgentDDL`; it only serves
    to make messages say ``package#install``.
    """

    name: str
    description: str
    display: Display = "failed"
    inputs: dict[str, InputItem] = field(default_factory=dict)
    outputs: dict[str, OutputItem] = field(default_factory=dict)
    aggregates: builtins.list[AggregateSpec] = field(default_factory=list)
    agent: str = ""
    #: Compile the inputs' validation patterns when first validating, not now (see
    #: :attr:`_rules`; :meth:`AgentDDL.from_dict` with ``check_patterns=False``).
    lazy_patterns: bool = field(default=False, repr=False, compare=False)

    _rule_cache: dict[str, _Rule] | None = field(init=False, repr=False, compare=False)
    _output_defaults: tuple[tuple[str, Any, bool], ...] = field(
        init=False, repr=False, compare=False)
    _resolved: builtins.list[Any] = field(init=False, repr=False, compare=False)
    _warned: set[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.display not in DISPLAY_VALUES:
            raise DDLError(f"action '{self.name}': display must be one of "
                           f"{', '.join(DISPLAY_VALUES)}, got {self.display!r}")
        for key, item in self.inputs.items():
            if key != item.name:
                raise DDLError(f"action '{self.name}': input filed as '{key}' is named "
                               f"'{item.name}'")
        for key, out in self.outputs.items():
            if key != out.name:
                raise DDLError(f"action '{self.name}': output filed as '{key}' is named "
                               f"'{out.name}'")
        setattr_ = object.__setattr__
        setattr_(self, "_rule_cache", None)
        if not self.lazy_patterns:
            self._rules  # noqa: B018  # a bad pattern is refused now
        setattr_(self, "_output_defaults", tuple(
            (name, out.default, isinstance(out.default, dict | list))
            for name, out in self.outputs.items()
        ))
        # [resolver, {validator name: check or None}]: the last resolver seen and what it
        # returned, so that a plugin is looked up once, not once per request.
        setattr_(self, "_resolved", [None, {}])
        setattr_(self, "_warned", set())

    @property
    def _rules(self) -> dict[str, _Rule]:
        """The compiled input rules: made with the action, or with ``lazy_patterns``
        when first needed (compiling an input's validation pattern loads the regular
        expression engine, which a client calling an action without such inputs never
        needs: ``mco rpc rpcutil ping``). A pattern that does not compile raises
        :class:`DDLError`, then at the latest."""
        rules = self._rule_cache
        if rules is None:
            rules = {name: _Rule(item) for name, item in self.inputs.items()}
            object.__setattr__(self, "_rule_cache", rules)
        return rules

    @property
    def label(self) -> str:
        """``agent#action``, as messages name the action."""
        return f"{self.agent}#{self.name}" if self.agent else self.name

    # --- server and client: validation ------------------------------------------------------

    def validate(self, data: Mapping[str, Any], *,
                 validators: Resolver | None = None) -> dict[str, Any]:
        """Check request data against the DDL and return it with defaults filled in.

        Raises :class:`DDLValidationError` naming the input: with ``missing=True`` for a
        required input that is absent (status 3 on the server), otherwise for an unknown
        input or an invalid value (status 4). ``process_results`` (sent by Ruby clients)
        is ignored and not returned. A ``null`` value counts as absent. Float inputs given
        as ints are returned as floats, so that the action sees the type it declared.

        ``validators`` resolves validator plugin names (``service_name``...) to checks;
        see :func:`mcollective.validators.plugin_resolver`. A name it does not know is
        warned about once and its values are accepted, as Choria does.
        """
        if not isinstance(data, Mapping):
            raise DDLValidationError(
                f"{self.label}: request data must be an object, got {type(data).__name__}")
        rules = self._rules
        for key in data:
            if key not in rules and key != "process_results":
                raise DDLValidationError(self._unknown_message(key), input=key)
        out: dict[str, Any] = {}
        for name, rule in rules.items():
            value = data.get(name)
            if value is None:
                if rule.default is not None:
                    value = copy.deepcopy(rule.default) if rule.mutable_default \
                        else rule.default
                elif rule.optional:
                    continue
                else:
                    raise DDLValidationError(f"{self.label}: input '{name}' is required",
                                             missing=True, input=name)
            out[name] = self._check(rule, value, validators)
        return out

    def _check(self, rule: _Rule, value: Any, validators: Resolver | None) -> Any:
        try:
            if rule.choices is not None:
                if value not in rule.choices:
                    raise ValidatorError(
                        f"{_short(value)} should be one of {', '.join(rule.choices)}")
                return value
            if rule.typecheck is not None:
                rule.typecheck(value)
            if rule.to_float and isinstance(value, int):
                return float(value)
            if rule.maxlength and len(value) > rule.maxlength:
                raise ValidatorError(
                    f"longer than {rule.maxlength} characters ({len(value)})")
            # Validation applies whatever maxlength is: Choria skips it when maxlength is 0
            # (unlimited), which silently turned off e.g. shellsafe. See docs/ddl.md.
            if rule.builtin is not None:
                rule.builtin(value)
            elif rule.regex is not None:
                if rule.regex.search(value) is None:
                    raise ValidatorError(f"{_short(value)} does not match /{rule.pattern}/")
            elif rule.plugin is not None:
                check = self._plugin(rule, validators)
                if check is not None:
                    check(value)
        except ValidatorError as exc:
            raise DDLValidationError(f"{self.label}: invalid input '{rule.name}': {exc}",
                                     input=rule.name) from None
        except DDLValidationError:
            raise
        except Exception as exc:
            # A validator plugin that crashes must not let the value through.
            which = rule.plugin or rule.pattern
            log.exception("validator '%s' failed on input '%s' of %s", which, rule.name,
                          self.label)
            raise DDLValidationError(
                f"{self.label}: input '{rule.name}' could not be validated: validator "
                f"'{which}' failed: {type(exc).__name__}: {exc}", input=rule.name,
            ) from exc
        return value

    def _plugin(self, rule: _Rule, validators: Resolver | None) -> Validator | None:
        name = rule.plugin
        assert name is not None
        resolved = self._resolved
        if resolved[0] is not validators and resolved[0] != validators:
            resolved[:] = [validators, {}]
        cache: dict[str, Validator | None] = resolved[1]
        if name in cache:
            check = cache[name]
        else:
            try:
                check = validators(name) if validators is not None else None
            except Exception as exc:
                # Installed but broken: refuse rather than accept unchecked.
                log.error("validator plugin '%s' (input '%s' of %s) could not be loaded: %s",
                          name, rule.name, self.label, exc)
                raise DDLValidationError(
                    f"{self.label}: input '{rule.name}' could not be validated: validator "
                    f"'{name}' could not be loaded: {exc}", input=rule.name) from exc
            cache[name] = check
        if check is None and name not in self._warned:
            self._warned.add(name)
            log.warning("validator plugin '%s' (input '%s' of %s) is not installed; its "
                        "values are accepted unchecked, as Choria does", name, rule.name,
                        self.label)
        return check

    def _unknown_message(self, key: str) -> str:
        names = builtins.list(self._rules)
        if not names:
            return f"{self.label}: unknown input '{key}': this action takes no inputs"
        import difflib

        close = difflib.get_close_matches(key, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{self.label}: unknown input '{key}'{hint}; valid inputs: {', '.join(names)}"

    # --- client: typing CLI strings ---------------------------------------------------------

    def coerce(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Type ``key=value`` strings from the command line by each input's DDL type.

        boolean: true/t/yes/y/1 or false/f/no/n/0 (any case); integer: ``-?\\d+``; float:
        a decimal number (``1``, ``-2.5``, ``.5``, ``1e3``); number: an int when it looks
        like one, else a float; hash and array: JSON text; string and list: unchanged.
        Values that are not strings are passed through, so typed data from the Python API
        can go through the same path. Raises :class:`DDLValidationError` naming the input
        for an unknown key or a value that does not convert. Run :meth:`validate` next.
        """
        out: dict[str, Any] = {}
        for key, value in raw.items():
            item = self.inputs.get(key)
            if item is None:
                if key == "process_results":
                    out[key] = value
                    continue
                raise DDLValidationError(self._unknown_message(key), input=key)
            out[key] = value if not isinstance(value, str) else self._coerce_one(item, value)
        return out

    def _coerce_one(self, item: InputItem, text: str) -> Any:
        kind = item.type
        if kind in ("string", "list"):
            return text
        stripped = text.strip()
        try:
            if kind == "boolean":
                low = stripped.lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError("must be a boolean: true/t/yes/y/1 or false/f/no/n/0")
            if kind == "integer":
                if _INT_RE.match(stripped):
                    return int(stripped)
                raise ValueError("must be an integer")
            if kind == "float":
                if _FLOAT_RE.match(stripped):
                    return float(stripped)
                raise ValueError("must be a number such as 1.5")
            if kind == "number":
                if _INT_RE.match(stripped):
                    return int(stripped)
                if _FLOAT_RE.match(stripped):
                    return float(stripped)
                raise ValueError("must be a number")
            # hash and array: JSON, as Choria's `choria req` takes them.
            want, example = (dict, '{"key": "value"}') if kind == "hash" else (
                builtins.list, '["a", "b"]')
            what = "object" if kind == "hash" else "array"
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON {what}, e.g. '{example}' ({exc})") from None
            if not isinstance(value, want):
                raise ValueError(f"must be a JSON {what}, e.g. '{example}'")
            return value
        except ValueError as exc:
            raise DDLValidationError(
                f"{self.label}: input '{item.name}' {exc}, got {_short(text)}",
                input=item.name,
            ) from None

    # --- replies ------------------------------------------------------------------------------

    def output_defaults(self) -> dict[str, Any]:
        """Every declared output with its default (``None`` when it has none); a fresh
        copy each time, so callers may change it."""
        return {name: copy.deepcopy(default) if mutable else default
                for name, default, mutable in self._output_defaults}

    def merge_output_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add each declared output missing from reply ``data`` with its default, in place
        (Choria's ``SetOutputDefaults``), and return ``data``. Keys already present, even
        ``None``, and undeclared keys are left alone."""
        for name, default, mutable in self._output_defaults:
            if name not in data:
                data[name] = copy.deepcopy(default) if mutable else default
        return data

    # --- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.name,
            "input": {name: item.to_dict() for name, item in self.inputs.items()},
            "output": {name: item.to_dict() for name, item in self.outputs.items()},
            "display": self.display,
            "description": self.description,
        }
        if self.aggregates:
            out["aggregate"] = [a.to_dict() for a in self.aggregates]
        return out


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_INT_RE = re.compile(r"^-?\d+\Z")
_FLOAT_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z")


# --- agents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentDDL:
    """An agent's DDL: its metadata and its actions, in the order the file lists them.

    Load one with :func:`load_agent_ddl` or :meth:`from_dict`; write one in Python with
    :meth:`build` and the helpers :func:`input_item`, :func:`output_item`,
    :func:`aggregate_spec` and :func:`action_ddl`.
    """

    metadata: AgentMetadata
    actions: dict[str, ActionDDL]
    source: Path | None = None
    schema: str = SCHEMA_URL

    def __post_init__(self) -> None:
        # Actions learn their agent's name (for messages) and share one warn-once set.
        warned: set[str] = set()
        actions = {}
        for key, act in self.actions.items():
            if key != act.name:
                raise DDLError(f"agent '{self.metadata.name}': action filed as '{key}' is "
                               f"named '{act.name}'")
            if act.agent != self.metadata.name:
                act = replace(act, agent=self.metadata.name)
            object.__setattr__(act, "_warned", warned)
            actions[key] = act
        object.__setattr__(self, "actions", actions)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def timeout(self) -> int:
        return self.metadata.timeout

    def action(self, name: str) -> ActionDDL:
        """The action ``name``, or :class:`UnknownRPCAction` (status 2) with the
        MCollective message."""
        try:
            return self.actions[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, self.actions, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UnknownRPCAction(
                f"Attempted to call action {name} for agent {self.metadata.name} but it's "
                f"not declared in the DDL{hint}"
            ) from None

    # --- loading ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, obj: Any, source: str | Path | None = None, *,
                  reword: Callable[[str], str] | None = None,
                  check_patterns: bool = True) -> AgentDDL:
        """Build from a decoded JSON DDL, checking its structure.

        Raises :class:`DDLFormatError` (a :class:`DDLError`) naming ``source`` and every
        malformed field. ``reword`` rewrites the places named in warnings, for formats
        read as an agent DDL (a data plugin's DDL is one action called ``query``).
        ``check_patterns=False`` leaves the inputs' validation patterns to be compiled
        when an action's inputs are first validated (see :attr:`ActionDDL._rules`).
        """
        label = str(source) if source is not None else _label(obj)
        if not isinstance(obj, dict):
            raise DDLFormatError(label, [f"must be a JSON object, got {type(obj).__name__}"])
        doc, problems = check_document(obj, label, reword=reword,
                                       check_patterns=check_patterns)
        if problems:
            raise DDLFormatError(label, [p for _, p in problems])
        meta = AgentMetadata(**{k: doc["metadata"].get(k) for k in _METADATA_FIELDS})
        actions: dict[str, ActionDDL] = {}
        try:
            for act in doc["actions"]:
                actions[act["action"]] = ActionDDL(
                    name=act["action"],
                    description=act["description"],
                    display=act["display"],
                    inputs={name: InputItem(
                        name=name, prompt=i["prompt"], description=i["description"],
                        type=i["type"], optional=i["optional"], default=i.get("default"),
                        validation=i.get("validation"), maxlength=i.get("maxlength", 0),
                        list=i.get("list"),
                    ) for name, i in act["input"].items()},
                    outputs={name: OutputItem(
                        name=name, description=o["description"], display_as=o["display_as"],
                        default=o.get("default"), type=o.get("type"),
                    ) for name, o in act["output"].items()},
                    aggregates=[AggregateSpec(
                        function=a["function"], output=a["args"][0],
                        options=dict(a["args"][1]) if len(a["args"]) > 1 else {},
                    ) for a in act["aggregate"]],
                    agent=meta.name, lazy_patterns=not check_patterns,
                )
        except DDLError as exc:  # pragma: no cover - check_document catches these first
            raise DDLFormatError(label, [str(exc)]) from None
        return cls(metadata=meta, actions=actions,
                   source=Path(source) if source is not None else None,
                   schema=doc["$schema"])

    @classmethod
    def build(cls, *, name: str, description: str, author: str, license: str, version: str,
              url: str, timeout: int, actions: Iterable[ActionDDL],
              provider: str | None = None, service: bool | None = None) -> AgentDDL:
        """Write a DDL in Python (agent authors need not hand-write JSON).

        The result goes through exactly the checks a JSON file does, so a DDL built here
        is one that every Choria-compatible tool accepts (see :meth:`to_dict`).
        """
        meta = AgentMetadata(name=name, description=description, author=author,
                             license=license, version=version, url=url, timeout=timeout,
                             provider=provider, service=service)
        draft = cls(metadata=meta, actions={a.name: a for a in _unique(actions, name)})
        return cls.from_dict(draft.to_dict(), source=None)

    # --- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The Choria JSON DDL (valid against ``schemas/mcorpc/ddl/v1/agent.json``)."""
        return {
            "$schema": self.schema,
            "metadata": self.metadata.to_dict(),
            "actions": [act.to_dict() for act in self.actions.values()],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


_METADATA_FIELDS = ("name", "description", "author", "license", "version", "url", "timeout",
                    "provider", "service")


def _label(obj: Any) -> str:
    try:
        return f"DDL of agent '{obj['metadata']['name']}'"
    except Exception:
        return "agent DDL"


def _unique(actions: Iterable[ActionDDL], agent: str) -> builtins.list[ActionDDL]:
    out: builtins.list[ActionDDL] = []
    seen: set[str] = set()
    for act in actions:
        if act.name in seen:
            raise DDLFormatError(f"DDL of agent '{agent}'",
                                 [f"action '{act.name}' is declared twice"])
        seen.add(act.name)
        out.append(act)
    return out


def load_agent_ddl(path: str | Path) -> AgentDDL:
    """Read and check a JSON agent DDL file; :class:`DDLError` names the file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DDLError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DDLError(f"{path}: not UTF-8 text ({exc.reason})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DDLError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column "
                       f"{exc.colno}") from None
    return AgentDDL.from_dict(obj, source=path)


# --- helpers for writing DDLs in Python -------------------------------------------------------


def input_item(name: str, *, description: str, type: str | None = None,
               prompt: str | None = None, optional: bool = False, default: Any = None,
               validation: str | None = None, maxlength: int = 0,
               list: builtins.list[str] | None = None) -> InputItem:
    """An input with sensible defaults: ``type`` is ``list`` when ``list`` is given, else
    ``string``; ``prompt`` is derived from the name; a string's ``validation`` defaults to
    ``".*"`` (anything) and ``maxlength`` to 0 (unlimited)."""
    kind = type or ("list" if list is not None else "string")
    return InputItem(
        name=name, prompt=prompt or name.replace("_", " ").capitalize(),
        description=description, type=kind, optional=optional, default=default,
        validation=validation, maxlength=maxlength, list=list,
    )


def output_item(name: str, *, description: str, display_as: str | None = None,
                default: Any = None, type: str | None = None) -> OutputItem:
    """An output; ``display_as`` defaults to the name in title case (``exit_code`` →
    ``Exit Code``)."""
    return OutputItem(name=name, description=description,
                      display_as=display_as or name.replace("_", " ").title(),
                      default=default, type=type)


def aggregate_spec(function: str, output: str, **options: Any) -> AggregateSpec:
    """``aggregate_spec("average", "total_time", format="Average: %0.2f")``."""
    return AggregateSpec(function=function, output=output, options=options)


def action_ddl(name: str, description: str, *, inputs: Iterable[InputItem] = (),
               outputs: Iterable[OutputItem] = (), display: Display = "failed",
               aggregates: Iterable[AggregateSpec] = ()) -> ActionDDL:
    """An action from lists of items (keyed by their names)."""
    ins: dict[str, InputItem] = {}
    for item in inputs:
        if item.name in ins:
            raise DDLError(f"action '{name}': input '{item.name}' is declared twice")
        ins[item.name] = item
    outs: dict[str, OutputItem] = {}
    for out in outputs:
        if out.name in outs:
            raise DDLError(f"action '{name}': output '{out.name}' is declared twice")
        outs[out.name] = out
    return ActionDDL(name=name, description=description, display=display, inputs=ins,
                     outputs=outs, aggregates=builtins.list(aggregates))


__all__ = [
    "ActionDDL",
    "AgentDDL",
    "AgentMetadata",
    "AggregateSpec",
    "DDLFormatError",
    "Display",
    "InputItem",
    "OutputItem",
    "action_ddl",
    "aggregate_spec",
    "input_item",
    "load_agent_ddl",
    "output_item",
]
