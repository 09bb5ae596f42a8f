"""Agent DDLs written as Python: the ``@action`` decorator and ``Input``/``Output`` specs.

Agent authors should not have to hand-write a JSON DDL. They decorate each action and
declare its inputs as typed parameters::

    class Hello(Agent):
        '''Says hello.'''

        metadata = {"version": "1.0.0", "author": "ops@example.net", "timeout": 5}

        @action(display="always", outputs={"message": Output("The greeting")})
        def greet(self, request, reply, *,
                  name: Annotated[str, Input("Who to greet", validation=r"^\\w+$")],
                  times: int = 1) -> None:
            '''Greet somebody.'''
            reply["message"] = f"hello {name} " * times

:func:`build_agent_ddl` turns such a class into an :class:`~mcollective.ddl.AgentDDL`
through :meth:`AgentDDL.build`, so a generated DDL passes exactly the checks a JSON file
does and can be exported (``mco plugin doc hello --json``) for Choria tools.

Types map as ``str`` → string, ``int`` → integer, ``float`` → float, ``bool`` → boolean,
``int | float`` → number, ``list``/``tuple`` → array, ``dict`` → hash and
``Literal["a", "b"]`` → list (choices). A parameter with a default is optional and its
default becomes the DDL default; ``X | None`` is optional too.
"""

from __future__ import annotations

import builtins
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from mcollective.ddl import (
    AgentDDL,
    AggregateSpec,
    action_ddl,
    aggregate_spec,
    input_item,
    output_item,
)
from mcollective.errors import DDLError

if TYPE_CHECKING:
    from mcollective.agent import Agent
    from mcollective.ddl import ActionDDL, Display, InputItem, OutputItem

F = TypeVar("F", bound=Callable[..., Any])

_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>"})()

#: The attribute ``@action`` sets on the function it decorates.
ACTION_ATTR = "__mco_action__"


@dataclass(frozen=True)
class Input:
    """An input's DDL fields beyond what its parameter's type and default say.

    Use it as ``Annotated[str, Input("description", ...)]`` on a parameter, or in
    ``@action(inputs={"name": Input(...)})`` for inputs that are not parameters. Fields
    left unset come from the parameter (type, optional, default) or sensible defaults
    (string, required, ``".*"``, unlimited length, prompt from the name).
    """

    description: str = ""
    prompt: str | None = None
    type: str | None = None
    optional: bool | None = None
    default: Any = _UNSET
    validation: str | None = None
    maxlength: int = 0
    list: Sequence[str] | None = None


@dataclass(frozen=True)
class Output:
    """An output: its description, label (``display_as``, default from the name), the
    default merged into replies, and optionally its type."""

    description: str = ""
    display_as: str | None = None
    default: Any = None
    type: str | None = None


@dataclass(frozen=True)
class ActionSpec:
    """What ``@action`` recorded about one method."""

    name: str
    description: str
    display: Display
    inputs: tuple[InputItem, ...]
    outputs: tuple[OutputItem, ...]
    aggregates: tuple[AggregateSpec, ...]
    #: Parameters the method takes as keyword arguments, filled from the request data.
    params: tuple[str, ...] = field(default=())

    def to_ddl(self) -> ActionDDL:
        return action_ddl(self.name, self.description, display=self.display,
                          inputs=self.inputs, outputs=self.outputs,
                          aggregates=self.aggregates)


@overload
def action(description: F, /) -> F: ...


@overload
def action(description: str | None = None, *, display: Display = "failed",
           inputs: Mapping[str, Input] | None = None,
           outputs: Mapping[str, Output | str] | None = None,
           aggregates: Iterable[AggregateSpec | tuple[Any, ...]] = (),
           name: str | None = None) -> Callable[[F], F]: ...


def action(description: str | F | None = None, *, display: Display = "failed",
           inputs: Mapping[str, Input] | None = None,
           outputs: Mapping[str, Output | str] | None = None,
           aggregates: Iterable[AggregateSpec | tuple[Any, ...]] = (),
           name: str | None = None) -> F | Callable[[F], F]:
    """Declare a method an action and describe it for the DDL.

    ``description`` defaults to the method's docstring (first paragraph); ``display``
    says which results ``mco rpc`` shows (``ok``, ``failed``, ``always``). Parameters
    after ``request`` and ``reply`` are inputs (see the module doc); ``inputs`` adds or
    refines some. ``outputs`` maps names to :class:`Output` or a plain description.
    ``aggregates`` lists summaries: ``aggregate_spec("summary", "ensure")`` or tuples
    such as ``("average", "time", {"format": "%.2f"})``.

    Usable bare (``@action``) or with arguments. Errors in the declaration are raised
    when the class is defined, naming the method, not when a request arrives.
    """
    if callable(description):  # bare @action
        return action()(description)
    text: str | None = description

    def decorate(func: F) -> F:
        spec = _action_spec(func, text, display, inputs or {}, outputs or {},
                            aggregates, name)
        setattr(func, ACTION_ATTR, spec)
        return func

    return decorate


def action_spec(func: Any) -> ActionSpec | None:
    """The :class:`ActionSpec` of a decorated method (``None`` for a plain method)."""
    return getattr(func, ACTION_ATTR, None)


def declared_actions(cls: type) -> list[tuple[str, ActionSpec]]:
    """Every ``@action`` method of ``cls`` and its bases, in definition order."""
    found: dict[str, ActionSpec] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            spec = action_spec(value)
            if spec is not None:
                found[attr] = spec
    return list(found.items())


def build_agent_ddl(cls: type[Agent]) -> AgentDDL:
    """The DDL of an agent class from its ``@action`` methods and metadata.

    Metadata comes from ``cls.metadata`` (a mapping with DDL metadata keys), then from
    the distribution that installs the class (version, author, licence, home page),
    then the class docstring for the description, then placeholders.
    """
    actions = declared_actions(cls)
    if not actions:
        raise DDLError(f"agent '{cls.agent_name}' ({cls.__module__}.{cls.__qualname__}) has "
                       "no DDL file and no @action methods to build one from")
    meta = _metadata(cls)
    return AgentDDL.build(actions=[spec.to_ddl() for _, spec in actions], **meta)


# --- building one action --------------------------------------------------------------------


def _action_spec(func: Callable[..., Any], description: str | None, display: Display,
                 inputs: Mapping[str, Input], outputs: Mapping[str, Output | str],
                 aggregates: Iterable[AggregateSpec | tuple[Any, ...]],
                 name: str | None) -> ActionSpec:
    where = f"action {func.__qualname__}"
    act_name = name or func.__name__
    desc = description or _first_paragraph(func.__doc__) or act_name.replace("_", " ")
    params = _parameters(func, where)
    items: dict[str, InputItem] = {}
    for param in params:
        hint = _annotation(func, param, where)
        items[param.name] = _input_from_param(param, hint, inputs.get(param.name), where)
    for key, extra in inputs.items():
        if key not in items:
            items[key] = _input_item(key, extra, kind=None, optional=None, default=_UNSET,
                                     where=where)
    outs = [_output_item(key, out) for key, out in outputs.items()]
    aggs = [_aggregate(a, where) for a in aggregates]
    try:
        # Building the ActionDDL now checks names, types and regexes at class definition.
        spec = ActionSpec(act_name, desc, display, tuple(items.values()), tuple(outs),
                          tuple(aggs), tuple(p.name for p in params))
        spec.to_ddl()
    except DDLError as exc:
        raise DDLError(f"{where}: {exc}") from None
    return spec


def _parameters(func: Callable[..., Any], where: str) -> list[inspect.Parameter]:
    """The parameters after (self, request, reply): those are the inputs."""
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    fixed = [p for p in params
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:3]
    if len(fixed) < 3:
        raise DDLError(f"{where}: an action method takes (self, request, reply, ...), got "
                       f"{sig}")
    out = []
    for p in params:
        if p in fixed:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind is p.POSITIONAL_ONLY:
            raise DDLError(f"{where}: input parameter '{p.name}' cannot be positional-only")
        out.append(p)
    return out


def _annotation(func: Callable[..., Any], param: inspect.Parameter, where: str) -> Any:
    """One parameter's annotation, evaluated if it is a string (``from __future__ import
    annotations``). Only input parameters are evaluated, so ``request``/``reply`` may be
    annotated with names imported under ``TYPE_CHECKING``."""
    hint = param.annotation
    if hint is inspect.Parameter.empty:
        return _UNSET
    if isinstance(hint, str):
        try:
            hint = eval(hint, getattr(func, "__globals__", {}))
        except Exception as exc:
            raise DDLError(f"{where}: input '{param.name}': cannot resolve annotation "
                           f"{hint!r}: {exc}") from None
    return hint


def _input_from_param(param: inspect.Parameter, hint: Any, extra: Input | None,
                      where: str) -> InputItem:
    base, meta, optional = _unwrap(hint)
    spec = extra or meta or Input()
    if extra is not None and meta is not None:
        raise DDLError(f"{where}: input '{param.name}' is described twice (Annotated and "
                       "inputs=)")
    kind, choices = (None, None) if base is _UNSET else _ddl_type(base, param.name, where)
    default = _UNSET if param.default is inspect.Parameter.empty else param.default
    if default is not _UNSET:
        optional = True
    if choices is not None and spec.list is None:
        spec = Input(**{**_fields(spec), "list": choices})
    return _input_item(param.name, spec, kind=kind, optional=optional, default=default,
                       where=where)


def _fields(spec: Input) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in Input.__dataclass_fields__}


def _input_item(name: str, spec: Input, *, kind: str | None, optional: bool | None,
                default: Any, where: str) -> InputItem:
    kind = spec.type or kind
    if spec.list is not None and kind in (None, "string"):
        kind = "list"
    if spec.default is not _UNSET:
        default = spec.default
    opt = spec.optional if spec.optional is not None else bool(optional) or (
        default is not _UNSET)
    try:
        return input_item(
            name, description=spec.description or name.replace("_", " "),
            type=kind or "string", prompt=spec.prompt, optional=opt,
            default=None if default is _UNSET else default, validation=spec.validation,
            maxlength=spec.maxlength,
            list=builtins.list(spec.list) if spec.list is not None else None)
    except DDLError as exc:
        raise DDLError(f"{where}: {exc}") from None


def _output_item(name: str, out: Output | str) -> OutputItem:
    spec = Output(out) if isinstance(out, str) else out
    return output_item(name, description=spec.description or name.replace("_", " "),
                       display_as=spec.display_as, default=spec.default, type=spec.type)


def _aggregate(value: AggregateSpec | tuple[Any, ...], where: str) -> AggregateSpec:
    if isinstance(value, AggregateSpec):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3) and all(
            isinstance(v, str) for v in value[:2]):
        options = value[2] if len(value) == 3 else {}
        return aggregate_spec(value[0], value[1], **dict(options))
    raise DDLError(f"{where}: an aggregate is aggregate_spec(...) or (function, output"
                   f"[, options]), got {value!r}")


# --- annotations -> DDL types ---------------------------------------------------------------


def _unwrap(hint: Any) -> tuple[Any, Input | None, bool]:
    """(base type, Input from Annotated, whether None is allowed)."""
    meta = None
    if typing.get_origin(hint) is typing.Annotated:
        args = typing.get_args(hint)
        hint = args[0]
        meta = next((a for a in args[1:] if isinstance(a, Input)), None)
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        hint = members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007
    return hint, meta, optional


_SIMPLE = {str: "string", bool: "boolean", int: "integer", float: "float", list: "array",
           tuple: "array", dict: "hash"}


def _ddl_type(hint: Any, name: str, where: str) -> tuple[str, list[str] | None]:
    if hint is typing.Any:
        raise DDLError(f"{where}: input '{name}' is annotated Any; give a concrete type "
                       "(str, int, float, bool, list, dict or a Literal)")
    if hint in _SIMPLE:
        return _SIMPLE[hint], None
    origin = typing.get_origin(hint)
    if origin in _SIMPLE:
        return _SIMPLE[origin], None
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if all(isinstance(c, str) for c in choices):
            return "list", builtins.list(choices)
    if origin in (typing.Union, types.UnionType) and set(typing.get_args(hint)) == {int,
                                                                                   float}:
        return "number", None
    if isinstance(hint, str):
        raise DDLError(f"{where}: input '{name}': cannot resolve annotation {hint!r}")
    raise DDLError(f"{where}: input '{name}': type {hint!r} has no DDL equivalent (use str, "
                   "int, float, bool, int | float, list, dict or Literal['a', 'b'])")


# --- metadata ---------------------------------------------------------------------------------


_PLACEHOLDERS = {"author": "unknown", "license": "unspecified", "version": "0.0.0",
                 "url": "unknown", "timeout": 10}


def _metadata(cls: type[Agent]) -> dict[str, Any]:
    given = dict(getattr(cls, "metadata", None) or {})
    unknown = set(given) - {"description", "author", "license", "version", "url",
                            "timeout", "provider", "service"}
    if unknown:
        raise DDLError(f"agent '{cls.agent_name}': unknown metadata key(s) "
                       f"{', '.join(sorted(unknown))}")
    dist = _distribution_metadata(cls)
    meta: dict[str, Any] = {"name": cls.agent_name}
    meta["description"] = (given.get("description") or _first_paragraph(cls.__doc__)
                           or dist.get("description") or f"The {cls.agent_name} agent")
    for key in ("author", "license", "version", "url", "timeout"):
        meta[key] = given.get(key) or dist.get(key) or _PLACEHOLDERS[key]
    for key in ("provider", "service"):
        if key in given:
            meta[key] = given[key]
    return meta


def _distribution_metadata(cls: type) -> dict[str, str]:
    """Version, author, licence and home page of the distribution whose
    ``mcollective.agents`` entry point names ``cls`` (directly or through its package):
    the agent's pyproject already says them, so the author need not repeat them."""
    import importlib.metadata  # only for agents that leave these out of their DDL

    for ep in importlib.metadata.entry_points(group="mcollective.agents"):
        module, _, attr = ep.value.replace(" ", "").partition(":")
        if attr != cls.__qualname__ or ep.dist is None or not (
                cls.__module__ == module or cls.__module__.startswith(module + ".")):
            continue
        md: dict[str, Any] = ep.dist.metadata.json
        urls = md.get("project_url") or []
        out = {
            "version": ep.dist.version or "",
            "author": md.get("author") or md.get("author_email") or "",
            "license": md.get("license_expression") or md.get("license") or "",
            "url": md.get("home_page") or (urls[0].split(",", 1)[-1].strip()
                                           if urls else ""),
            "description": md.get("summary") or "",
        }
        return {k: v for k, v in out.items() if v}
    return {}


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    text = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(text.split())


__all__ = [
    "ActionSpec",
    "Input",
    "Output",
    "action",
    "action_spec",
    "build_agent_ddl",
    "declared_actions",
]
