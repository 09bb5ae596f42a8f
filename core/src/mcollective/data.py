"""Data plugins: named node-side queries with a DDL, used by ``-S`` and ``rpcutil get_data``.

A data plugin answers ``name('query')`` with a small mapping of outputs, e.g.
``fstat('/etc/hosts')`` → ``{"present": 1, "size": 158, ...}``. Nodes use them to
evaluate compound filters (``-S "fstat('/etc/hosts').size>100"``) and to answer
``rpcutil get_data``; clients read their DDLs to reject a misspelt plugin, a bad query or
an undeclared output *before* a request is sent (a node would otherwise just stay silent).

The DDL is Choria's data DDL (``schemas/mcorpc/ddl/v1/data.json``)::

    {"$schema": "https://choria.io/schemas/mcorpc/ddl/v1/data.json",
     "metadata": {"name": "fstat", "description": "...", "author": "...",
                  "license": "...", "version": "1.0.0", "url": "...", "timeout": 1},
     "query": {"prompt": "File", "description": "...", "type": "string",
               "validation": "^.+$", "maxlength": 1024, "optional": false},
     "output": {"size": {"description": "...", "display_as": "Size", "type": "integer"}}}

``query`` may be left out for a plugin that takes no argument (``uptime()``); the Ruby
form ``"input": {"query": {...}}`` is read too. A plugin author subclasses
:class:`DataPlugin`, implements :meth:`DataPlugin.run` and puts ``<name>.json`` beside the
module; see ``docs/discovery.md``.
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcollective.errors import (
    DDLError,
    DDLValidationError,
    FilterSyntaxError,
    MCollectiveError,
    PluginLoadError,
)
from mcollective.hookspecs import hookimpl

if TYPE_CHECKING:
    from mcollective.agent import AgentContext
    from mcollective.config import Config
    from mcollective.ddl import ActionDDL, AgentMetadata, InputItem, OutputItem
    from mcollective.filters import DataTest, Expr
    from mcollective.plugins import PluginManager

log = logging.getLogger(__name__)

DATA_SCHEMA_URL = "https://choria.io/schemas/mcorpc/ddl/v1/data.json"
_AGENT_SCHEMA_URL = "https://choria.io/schemas/mcorpc/ddl/v1/agent.json"
_TOP_KEYS = frozenset({"$schema", "metadata", "query", "input", "output"})


class DataPluginError(MCollectiveError):
    """A data query failed: bad argument, the plugin raised, or it ran out of time."""


# --- the DDL --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataDDL:
    """A data plugin's DDL: metadata, the query input (``None``: takes no argument) and
    the declared outputs.

    Validation reuses the agent DDL machinery (the query is checked exactly as an action
    input would be), so validators, regexes and ``maxlength`` mean the same thing here.
    """

    metadata: AgentMetadata
    query: InputItem | None
    outputs: Mapping[str, OutputItem]
    _action: ActionDDL
    source: str | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def timeout(self) -> int:
        return self.metadata.timeout

    @classmethod
    def from_dict(cls, obj: Any, source: str | Path | None = None) -> DataDDL:
        """Read a decoded data DDL; :class:`DDLError` names ``source`` and the field."""
        from mcollective.ddl import AgentDDL, DDLFormatError

        label = str(source) if source is not None else "data DDL"
        if not isinstance(obj, dict):
            raise DDLFormatError(label, [f"must be a JSON object, got {type(obj).__name__}"])
        unknown = sorted(set(obj) - _TOP_KEYS)
        if unknown:
            log.warning("%s: ignoring unknown key(s) %s", label, ", ".join(map(repr, unknown)))
        query = obj.get("query")
        legacy = obj.get("input")
        if query is None and isinstance(legacy, dict):
            query = legacy.get("query")
        output = obj.get("output")
        problems = []
        if query is not None and not isinstance(query, dict):
            problems.append("'query' must be an object")
        if not isinstance(output, dict) or not output:
            problems.append("'output' must be an object declaring at least one output")
        if problems:
            raise DDLFormatError(label, problems)
        # The same document as a one-action agent DDL: every input and output rule of
        # agents then applies unchanged.
        as_agent = {
            "$schema": _AGENT_SCHEMA_URL,
            "metadata": obj.get("metadata"),
            "actions": [{
                "action": "query",
                "description": "data query",
                "input": {"query": query} if query is not None else {},
                "output": output,
                "display": "always",
            }],
        }
        try:
            agent = AgentDDL.from_dict(as_agent, source=label, reword=_reword)
        except DDLFormatError as exc:
            raise DDLFormatError(label, [_reword(p) for p in exc.problems]) from None
        action = agent.actions["query"]
        return cls(metadata=agent.metadata, query=action.inputs.get("query"),
                   outputs=dict(action.outputs), _action=action, source=label)

    def to_dict(self) -> dict[str, Any]:
        """The Choria JSON form."""
        meta = {k: v for k, v in self.metadata.to_dict().items()
                if k not in ("provider", "service")}
        out: dict[str, Any] = {"$schema": DATA_SCHEMA_URL, "metadata": meta}
        if self.query is not None:
            out["query"] = self.query.to_dict()
        out["output"] = {name: item.to_dict() for name, item in self.outputs.items()}
        return out

    def validate_query(self, query: str | None, *, validators: Any = None) -> Any:
        """The query checked (and typed) by the DDL; :class:`DDLValidationError` with a
        message naming the plugin otherwise."""
        if self.query is None:
            if query not in (None, ""):
                raise DDLValidationError(f"data plugin '{self.name}' takes no query, "
                                         f"got {query!r}", input="query")
            return None
        try:
            data = self._action.coerce({"query": query}) if query is not None else {}
            return self._action.validate(data, validators=validators).get("query")
        except DDLValidationError as exc:
            message = str(exc).removeprefix(f"{self.name}#query: ").replace(
                "input 'query'", "query")
            message = f"data plugin '{self.name}': {message}"
            raise DDLValidationError(message, missing=exc.missing, input="query") from None

    def output_names(self) -> list[str]:
        return list(self.outputs)

    def default_output(self) -> str | None:
        """What ``name('x')`` without ``.output`` reads: the only output, or ``value``."""
        if len(self.outputs) == 1:
            return next(iter(self.outputs))
        return "value" if "value" in self.outputs else None


def _reword(problem: str) -> str:
    return (problem.replace("actions[0] 'query' input 'query'", "query")
            .replace("actions[0] 'query' ", ""))


def load_data_ddl(path: str | Path) -> DataDDL:
    """Read and check a JSON data DDL file."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DDLError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DDLError(f"{path}: not valid JSON: {exc}") from None
    return DataDDL.from_dict(obj, source=path)


# --- the plugin -----------------------------------------------------------------------------


class DataPlugin(ABC):
    """Base class of data plugins.

    Subclasses set :attr:`name`, implement :meth:`run` and ship ``<name>.json`` beside
    their module (or set :attr:`ddl_file`, or override :meth:`load_ddl`). The class is
    its own plugin object: the entry point names it and :meth:`mco_data_create` makes
    one instance per daemon.

    Nodes call :meth:`query`, which validates the argument against the DDL and bounds
    :meth:`run` by the DDL timeout, so a plugin stuck on a hung NFS mount costs a false
    filter, not a stuck daemon.
    """

    name: ClassVar[str] = ""
    ddl_file: ClassVar[str | None] = None
    _ddl_cache: ClassVar[dict[type, DataDDL]] = {}

    def __init__(self, config: Config | None = None) -> None:
        self.config = config
        #: The node this plugin answers for; set by the daemon through :meth:`attach`.
        self.context: AgentContext | None = None
        #: Queries abandoned at their timeout whose thread still runs.
        self._stuck = 0
        self._stuck_lock = threading.Lock()

    @hookimpl
    @classmethod
    def mco_data_create(cls, config: Config) -> DataPlugin:
        return cls(config)

    # --- DDL ------------------------------------------------------------------------

    @classmethod
    def load_ddl(cls) -> DataDDL:
        """The DDL from the file beside the plugin's module, read once per class."""
        cached = DataPlugin._ddl_cache.get(cls)
        if cached is not None:
            return cached
        filename = cls.ddl_file or f"{cls.name}.json"
        package = cls.__module__.rpartition(".")[0] or cls.__module__
        try:
            ref = resources.files(package).joinpath(filename)
            text = ref.read_text(encoding="utf-8")
        except (FileNotFoundError, ModuleNotFoundError, OSError) as exc:
            raise DDLError(f"data plugin '{cls.name}' has no DDL: cannot read {filename} "
                           f"beside {cls.__module__} ({exc})") from None
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise DDLError(f"{ref}: not valid JSON: {exc}") from None
        ddl = DataDDL.from_dict(obj, source=str(ref))
        if cls.name and ddl.name != cls.name:
            raise DDLError(f"{ref}: DDL names data plugin '{ddl.name}', the class is "
                           f"'{cls.name}'")
        DataPlugin._ddl_cache[cls] = ddl
        return ddl

    @property
    def ddl(self) -> DataDDL:
        return type(self).load_ddl()

    @property
    def outputs(self) -> Mapping[str, str]:
        """Output name → description, from the DDL."""
        return {name: item.description for name, item in self.ddl.outputs.items()}

    def attach(self, context: AgentContext) -> None:
        """Learn about the node (facts, agents, collectives) this plugin runs on."""
        self.context = context

    # --- querying -------------------------------------------------------------------

    def query(self, argument: str | None, *, deadline: float | None = None
              ) -> Mapping[str, Any]:
        """Validate ``argument``, run the query within the DDL timeout and return its
        outputs; :class:`DataPluginError` (or :class:`DDLValidationError`) otherwise.

        ``deadline`` (``time.monotonic()``) is when the caller must have its answer: a
        node evaluating one request's filter gives every query the time left of
        ``max_filter_seconds``, so a filter asking many slow queries is bounded as a
        whole. Outputs computed only when read (:class:`LazyOutputs`) get the same
        bounds."""
        ddl = self.ddl
        checked = ddl.validate_query(argument)
        seconds = float(ddl.timeout)
        if deadline is not None:
            seconds = min(seconds, deadline - time.monotonic())
            if seconds <= 0:
                raise DataPluginError(f"data plugin '{ddl.name}' not asked: the filter's "
                                      f"time (max_filter_seconds) is used up")
        result = self._bounded(checked, seconds)
        if not isinstance(result, Mapping):
            raise DataPluginError(f"data plugin '{ddl.name}' returned "
                                  f"{type(result).__name__}, not a mapping of outputs")
        if isinstance(result, LazyOutputs):
            result.bound(float(ddl.timeout), deadline)
        return result

    #: Queries of one plugin still running past their timeout (a hung NFS mount) before
    #: new queries fail at once instead of leaving one more thread behind.
    max_stuck_queries: ClassVar[int] = 10

    def _bounded(self, argument: Any, timeout: float) -> Any:
        """``run(argument)`` in a helper thread, abandoned after ``timeout`` seconds.

        An abandoned query keeps its thread until ``run`` returns (Python cannot
        interrupt it), so they are counted, and at :attr:`max_stuck_queries` the plugin
        answers no more until one of them returns."""
        name = self.ddl.name
        lock = self._stuck_lock
        with lock:
            stuck = self._stuck
            if stuck >= self.max_stuck_queries:
                raise DataPluginError(f"data plugin '{name}' not asked: {stuck} of its "
                                      f"queries are still running past their timeout")
        outcome: list[tuple[bool, Any]] = []
        done = threading.Event()
        abandoned = [False]

        def work() -> None:
            try:
                outcome.append((True, self.run(argument)))
            except BaseException as exc:  # handed to the caller below
                outcome.append((False, exc))
            finally:
                with lock:
                    done.set()
                    if abandoned[0]:
                        self._stuck -= 1

        threading.Thread(target=work, name=f"data-{name}", daemon=True).start()
        if not done.wait(timeout):
            with lock:
                if not done.is_set():
                    abandoned[0] = True
                    self._stuck += 1
            if abandoned[0]:
                raise DataPluginError(f"data plugin '{name}' did not answer within "
                                      f"{timeout:.3g}s")
        ok, value = outcome[0]
        if not ok:
            if isinstance(value, MCollectiveError):
                raise value
            raise DataPluginError(f"data plugin '{name}' failed: {type(value).__name__}: "
                                  f"{value}") from value
        return value

    def stuck_queries(self) -> int:
        """Queries still running past their timeout, now."""
        return self._stuck

    @abstractmethod
    def run(self, argument: Any) -> Mapping[str, Any]:
        """The outputs for a validated ``argument`` (``None`` when the plugin takes none).

        Values should be str, int, float or bool (``None`` for "not available"). Raise
        any exception for a query that cannot be answered: the filter using it is false
        on this node and ``get_data`` fails with the message.
        """


class LazyOutputs(Mapping[str, Any]):
    """Outputs some of which a plugin computes only when they are read (``fstat``'s
    ``md5``: a filter on ``size`` must not read a multi-gigabyte file).

    Reading them happens outside :meth:`DataPlugin.run`, on whichever thread reads, so
    :meth:`DataPlugin.query` hands its bounds over: a subclass computing a value calls
    :meth:`read_deadline` and gives up (the value is then ``None``) when it passes."""

    _seconds: float = 1.0
    _deadline: float | None = None

    def bound(self, seconds: float, deadline: float | None) -> None:
        """Each lazy read may take ``seconds``, and must end by ``deadline``."""
        self._seconds, self._deadline = seconds, deadline

    def read_deadline(self) -> float:
        """When a computation starting now must have ended (``time.monotonic()``)."""
        until = time.monotonic() + self._seconds
        return until if self._deadline is None else min(until, self._deadline)


# --- client side: checking -S functions before sending -----------------------------------


def data_ddl(plugins: PluginManager, name: str) -> DataDDL:
    """The DDL of the locally installed data plugin ``name``, without creating it.

    :class:`FilterSyntaxError` when no such plugin is installed (with the installed
    names and the closest one), because the caller is checking a filter.
    """
    installed = plugins.known_names("data")
    if name not in installed:
        close = difflib.get_close_matches(name, installed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise FilterSyntaxError(
            f"no data plugin '{name}' is installed here (installed: "
            f"{', '.join(installed) or 'none'}){hint}")
    try:
        loaded = plugins.load("data", name)
    except PluginLoadError as exc:
        raise FilterSyntaxError(str(exc)) from None
    load = getattr(loaded.obj, "load_ddl", None)
    if load is None:
        raise FilterSyntaxError(f"data plugin '{name}' ({loaded.distribution}) has no DDL; "
                                "it cannot be checked")
    try:
        ddl: DataDDL = load()
    except DDLError as exc:
        raise FilterSyntaxError(f"data plugin '{name}': {exc}") from None
    return ddl


def data_tests(exprs: Iterable[Expr]) -> list[DataTest]:
    """Every data-plugin function in compound expressions, in reading order."""
    from mcollective.filters import And, DataTest, Not, Or

    found: list[DataTest] = []
    stack: list[Any] = list(reversed(list(exprs)))
    while stack:
        node = stack.pop()
        if isinstance(node, DataTest):
            found.append(node)
        elif isinstance(node, (And, Or)):
            stack.extend(reversed(node.items))
        elif isinstance(node, Not):
            stack.append(node.item)
    return found


def check_data_functions(exprs: Iterable[Expr], plugins: PluginManager) -> float:
    """Check every ``name('query').output`` of ``-S`` expressions against the local DDLs:
    the plugin is installed, the query passes its input validation and the output is
    declared (or there is a default output). Returns the sum of the plugins' timeouts,
    which the client adds to its waits as MCollective did.

    Raises :class:`FilterSyntaxError` naming the function.
    """
    from mcollective.validators import plugin_resolver

    timeouts: dict[str, int] = {}
    validators = None
    for test in data_tests(exprs):
        call = test.call_text()
        try:
            ddl = data_ddl(plugins, test.plugin)
        except FilterSyntaxError as exc:
            raise FilterSyntaxError(f"-S {call}: {exc}") from None
        if validators is None:
            validators = plugin_resolver(plugins)
        try:
            ddl.validate_query(test.query, validators=validators)
        except DDLValidationError as exc:
            raise FilterSyntaxError(f"-S {call}: {exc}") from None
        output = test.output or ddl.default_output()
        if output is None:
            raise FilterSyntaxError(
                f"-S {call}: data plugin '{ddl.name}' has several outputs; name one with "
                f".output (outputs: {', '.join(ddl.outputs)})")
        if output not in ddl.outputs:
            close = difflib.get_close_matches(output, list(ddl.outputs), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise FilterSyntaxError(
                f"-S {call}: data plugin '{ddl.name}' has no output '{output}' (outputs: "
                f"{', '.join(ddl.outputs)}){hint}")
        timeouts[ddl.name] = ddl.timeout
    return float(sum(timeouts.values()))


__all__ = [
    "DATA_SCHEMA_URL",
    "DataDDL",
    "DataPlugin",
    "DataPluginError",
    "LazyOutputs",
    "check_data_functions",
    "data_ddl",
    "data_tests",
    "load_data_ddl",
]
