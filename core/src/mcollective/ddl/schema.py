"""The structure of an agent DDL, checked with voluptuous.

This module only answers "is this a well-formed Choria JSON DDL?" and returns the document
normalised (types lower-cased, ``display`` filled in, numbers made ints). It is lenient
exactly where real DDLs need it (see ``docs/ddl.md``) and strict where a mistake would
change behaviour on the server: a misspelt type, a non-numeric ``maxlength``, a timeout
under one second. Every problem is reported with a readable path, e.g.
``actions[3] 'install' input 'package': 'maxlength' must be a number``, because a DDL
author has to find the mistake in a file of several hundred lines.

Things voluptuous cannot see (duplicate action names, regexes that do not compile,
aggregates over undeclared outputs, unknown keys) are checked in :func:`check_document`.

Where Choria's published JSON schema is stricter than go-choria's loader (which only
decodes the JSON into structs), we load what go-choria loads and warn: input and output
names outside ``^[a-z0-9_]+$``, inputs without ``optional``/``prompt``/``description``,
string inputs without ``validation``/``maxlength``, outputs without ``display_as``, empty
or missing metadata texts. Those DDLs are served by real Choria nodes, so refusing them
would make an agent that works there unusable here (see ``docs/ddl.md``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import voluptuous as vol

from mcollective.regex import PatternError
from mcollective.validators import BUILTIN, ruby_regex, typecheck

log = logging.getLogger("mcollective.ddl")

#: ``$schema`` values of agent DDLs: the one go-choria writes, and the older id still
#: found in test data. Anything else is loaded with a warning.
SCHEMA_URL = "https://choria.io/schemas/mcorpc/ddl/v1/agent.json"
KNOWN_SCHEMAS = frozenset({SCHEMA_URL, "https://choria.io/schemas/mcorpc/agent:1.json"})

INPUT_TYPES: tuple[str, ...] = ("string", "list", "boolean", "integer", "float", "number",
                                "hash", "array")
DISPLAY_VALUES = ("ok", "failed", "always")
NAME_RE = re.compile(r"^[a-z0-9_]+$")
#: What an input or output name may not hold, even though go-choria would load it.
LOOSE_NAME_RE = re.compile(r"[\s=\x00-\x1f\x7f]")
#: A ``validation`` that looks like this names a validator plugin, not a regex (Choria).
VALIDATOR_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

REQUIRED = "is required"

KNOWN_KEYS = {
    "top": {"$schema", "metadata", "actions"},
    "metadata": {"name", "description", "author", "license", "version", "url", "timeout",
                 "provider", "service"},
    "action": {"action", "description", "input", "output", "display", "aggregate"},
    "input": {"prompt", "description", "type", "optional", "default", "validation",
              "maxlength", "list"},
    "output": {"description", "display_as", "default", "type"},
}


# --- value checks ---------------------------------------------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("must be a non-empty string")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("must be a string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("must be true or false")
    return value


def _name(what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise vol.Invalid(
                f"{value!r} is not a valid {what} name: use lower-case letters, digits and '_'"
            )
        return value

    return check


def _version(value: Any) -> str:
    _string(value)
    if value and not re.match(r"^(\d+\.)?(\d+\.)?(\*|\d+)$", value):
        # The schema asks for x.y.z; nothing depends on it, so do not refuse the agent.
        log.debug("DDL version %r is not of the form x.y.z", value)
    return value


def _timeout(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise vol.Invalid(f"must be a whole number of seconds, got {value!r}")
    if value < 1:
        raise vol.Invalid(f"must be at least 1 second, got {value!r}")
    return int(value)


def _maxlength(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid(f"must be a number, got {value!r}")
    if value < 0 or value != int(value):
        raise vol.Invalid(f"must be a whole number of 0 or more (0 = unlimited), got {value!r}")
    return int(value)


def _type(value: Any) -> str:
    # hash/Hash and array/Array both occur: Ruby symbols were converted both ways.
    if not isinstance(value, str) or value.lower() not in INPUT_TYPES:
        raise vol.Invalid(f"must be one of {', '.join(INPUT_TYPES)}, got {value!r}")
    return value.lower()


def _display(value: Any) -> str:
    # Choria's own spelling of "always" (choria req --display all); any case.
    if isinstance(value, str) and value.lower() in (*DISPLAY_VALUES, "all"):
        return "always" if value.lower() == "all" else value.lower()
    if value not in DISPLAY_VALUES:
        raise vol.Invalid(f"must be one of {', '.join(DISPLAY_VALUES)}, got {value!r}")
    return str(value)


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise vol.Invalid("must be a non-empty list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise vol.Invalid(f"must hold only strings, item {i} is {item!r}")
    return list(value)


def _any(value: Any) -> Any:
    return value


def _input_item(value: Any) -> dict[str, Any]:
    """One input: the common keys, then what its type requires (string: validation and
    maxlength; list: list), as both the Choria schema and Ruby MCollective require."""
    if not isinstance(value, dict):
        raise vol.Invalid("must be an object (JSON {...})")
    item = _INPUT_SCHEMA(value)
    kind = item["type"]
    # A string input without validation/maxlength is loaded by go-choria (accept anything,
    # unlimited); check_document warns that the schema requires them.
    if kind == "list" and "list" not in item:
        raise vol.RequiredFieldInvalid(f"{REQUIRED} for list inputs", path=["list"])
    return item


def _loose_name(what: str) -> Callable[[Any], str]:
    """Input and output names: go-choria accepts any JSON key, and real DDLs use upper-case
    ones, so only refuse what could never be sent as ``name=value`` (empty, spaces, ``=``).
    Names the schema would refuse are reported by :func:`_stricter_than_go`."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or not value or LOOSE_NAME_RE.search(value):
            raise vol.Invalid(f"{value!r} is not a valid {what} name: it must not be empty "
                              "or hold spaces, '=' or control characters")
        return value

    return check


def _named_map(item: Callable[[Any], Any], what: str) -> Callable[[Any], dict[str, Any]]:
    """A JSON object whose keys are input or output names; keeps the file's order."""
    check_name = _loose_name(what)

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise vol.Invalid("must be an object (JSON {...})")
        out: dict[str, Any] = {}
        errors: list[vol.Invalid] = []
        for key, sub in value.items():
            try:
                check_name(key)
                if what == "input" and key == "process_results":
                    raise vol.Invalid("'process_results' is reserved for the RPC layer")
                out[key] = item(sub)
                # go-choria leaves these empty; a label is more use than nothing.
                if what == "input" and not out[key].get("prompt"):
                    out[key]["prompt"] = key
                if what == "output" and not out[key].get("display_as"):
                    out[key]["display_as"] = key
            except vol.MultipleInvalid as exc:
                for err in exc.errors:
                    err.prepend([key])
                    errors.append(err)
            except vol.Invalid as exc:
                exc.prepend([key])
                errors.append(exc)
        if errors:
            raise vol.MultipleInvalid(errors)
        return out

    return check


def _aggregate(value: Any) -> dict[str, Any]:
    item = _AGGREGATE_SCHEMA(value)
    args = item.get("args")
    if not isinstance(args, list) or not args or not isinstance(args[0], str) or not args[0]:
        raise vol.Invalid("must be a list starting with the name of an output",
                          path=["args"])
    if len(args) > 2 or (len(args) == 2 and not isinstance(args[1], dict)):
        raise vol.Invalid("may only hold an output name and an options object",
                          path=["args"])
    return item


def _object(schema: vol.Schema) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise vol.Invalid("must be an object (JSON {...})")
        return schema(value)

    return check


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise vol.Invalid("must be a list (JSON [...])")
        out, errors = [], []
        for i, sub in enumerate(value):
            try:
                out.append(item(sub))
            except vol.MultipleInvalid as exc:
                for err in exc.errors:
                    err.prepend([i])
                    errors.append(err)
            except vol.Invalid as exc:
                exc.prepend([i])
                errors.append(exc)
        if errors:
            raise vol.MultipleInvalid(errors)
        return out

    return check


# --- schemas --------------------------------------------------------------------------------

# Keys the schema requires but go-choria's loader does not are Optional here, with
# go-choria's zero values as defaults; _stricter_than_go() warns about them.
_INPUT_SCHEMA = vol.Schema({
    vol.Optional("prompt", default=""): _string,
    vol.Optional("description", default=""): _string,
    vol.Required("type", msg=REQUIRED): _type,
    vol.Optional("optional", default=False): _boolean,
    vol.Optional("default"): _any,
    vol.Optional("validation"): _string,
    vol.Optional("maxlength"): _maxlength,
    vol.Optional("list"): _string_list,
}, extra=vol.ALLOW_EXTRA)

_OUTPUT_SCHEMA = vol.Schema({
    vol.Optional("description", default=""): _string,
    vol.Optional("display_as", default=""): _string,
    vol.Optional("default"): _any,
    # Usually absent in DDLs converted from Ruby; null means the same.
    vol.Optional("type"): vol.Any(None, _type, msg="must be one of "
                                  + ", ".join(INPUT_TYPES)),
}, extra=vol.ALLOW_EXTRA)

_AGGREGATE_SCHEMA = vol.Schema({
    vol.Required("function", msg=REQUIRED): _text,
    vol.Required("args", msg=REQUIRED): _any,
}, extra=vol.ALLOW_EXTRA)

_ACTION_SCHEMA = vol.Schema({
    vol.Required("action", msg=REQUIRED): _name("action"),
    vol.Optional("description", default=""): _string,
    # The schema requires both; Choria's loader accepts their absence, and so do we.
    vol.Optional("input", default=dict): _named_map(_input_item, "input"),
    vol.Optional("output", default=dict): _named_map(_object(_OUTPUT_SCHEMA), "output"),
    # MCollective's and Choria's default when an action does not say.
    vol.Optional("display", default="failed"): _display,
    vol.Optional("aggregate", default=list): _list_of(_aggregate),
}, extra=vol.ALLOW_EXTRA)

_METADATA_SCHEMA = vol.Schema({
    vol.Required("name", msg=REQUIRED): _name("agent"),
    vol.Optional("description", default=""): _string,
    vol.Optional("author", default=""): _string,
    vol.Optional("license", default=""): _string,
    vol.Optional("version", default=""): _version,
    vol.Optional("url", default=""): _string,
    vol.Required("timeout", msg=REQUIRED): _timeout,
    vol.Optional("provider"): vol.Any(None, _string, msg="must be a string"),
    vol.Optional("service"): vol.Any(None, _boolean, msg="must be true or false"),
}, extra=vol.ALLOW_EXTRA)

DOCUMENT_SCHEMA = vol.Schema({
    vol.Optional("$schema", default=SCHEMA_URL): _string,
    vol.Required("metadata", msg=REQUIRED): _object(_METADATA_SCHEMA),
    vol.Required("actions", msg=REQUIRED): _list_of(_object(_ACTION_SCHEMA)),
}, extra=vol.ALLOW_EXTRA)


# --- reporting ------------------------------------------------------------------------------


def describe_path(doc: Any, path: Sequence[Any]) -> tuple[str, str | None]:
    """Turn a voluptuous path into ``(where, field)``, e.g.
    ``("actions[3] 'install' input 'package'", "maxlength")``.

    ``doc`` is the original document, used to show an action's name next to its index.
    """
    parts: list[str] = []
    node: Any = doc
    field: str | None = None
    i = 0
    path = list(path)
    while i < len(path):
        key = path[i]
        rest = len(path) - i - 1
        if key in ("actions", "aggregate") and rest >= 1 and isinstance(path[i + 1], int):
            idx = path[i + 1]
            node = node.get(key) if isinstance(node, dict) else None
            node = node[idx] if isinstance(node, list) and idx < len(node) else None
            label = f"{key}[{idx}]"
            if key == "actions" and isinstance(node, dict) and isinstance(node.get("action"),
                                                                            str):
                label += f" '{node['action']}'"
            parts.append(label)
            i += 2
            continue
        if key in ("input", "output") and rest >= 1:
            name = path[i + 1]
            parts.append(f"{key} '{name}'")
            node = node.get(key, {}).get(name) if isinstance(node, dict) and isinstance(
                node.get(key), dict) else None
            i += 2
            continue
        if key == "metadata" and rest >= 1:
            parts.append("metadata")
            node = node.get("metadata") if isinstance(node, dict) else None
            i += 1
            continue
        # A leaf (or an unexpected shape): the rest is the field.
        field = ".".join(str(p) for p in path[i:])
        break
    return " ".join(parts), field


def format_error(doc: Any, err: vol.Invalid) -> str:
    where, field = describe_path(doc, err.path)
    msg = err.error_message or err.msg
    if msg == "required key not provided":
        msg = REQUIRED
    elif msg == "extra keys not allowed":
        msg = "is not allowed here"
    text = f"'{field}' {msg}" if field else msg
    return f"{where}: {text}" if where else text


def check_document(doc: dict[str, Any], source: str = "agent DDL", *,
                   reword: Callable[[str], str] | None = None, check_patterns: bool = True
                   ) -> tuple[dict[str, Any], list[tuple[list[Any], str]]]:
    """Validate and normalise a DDL document; ``source`` names it in warnings.
    ``check_patterns=False``: inputs' validation patterns are not compiled here.

    Returns the normalised document and a list of ``(path, message)`` problems; the caller
    turns problems into one :class:`~mcollective.errors.DDLError` naming the file.
    """
    try:
        norm = DOCUMENT_SCHEMA(doc)
    except vol.MultipleInvalid as exc:
        return doc, [(list(e.path), format_error(doc, e)) for e in exc.errors]
    problems: list[tuple[list[Any], str]] = []

    def problem(path: list[Any], message: str) -> None:
        where, field = describe_path(doc, path)
        text = f"'{field}' {message}" if field else message
        problems.append((path, f"{where}: {text}" if where else text))

    schema_url = norm["$schema"]
    if schema_url not in KNOWN_SCHEMAS:
        log.warning("%s: unknown $schema %r; reading it as an agent DDL", source, schema_url)
    stricter = _stricter_than_go(doc)
    if reword is not None:
        stricter = [reword(note) for note in stricter]
    if stricter:
        shown = "; ".join(stricter[:STRICTER_SHOWN])
        more = len(stricter) - STRICTER_SHOWN
        log.warning("%s: loaded as go-choria loads it, but Choria's DDL schema would refuse "
                    "it: %s%s", source, shown, f" (and {more} more)" if more > 0 else "")
    _warn_unknown(source, doc, [], "top", doc.keys())
    _warn_unknown(source, doc, ["metadata"], "metadata", doc["metadata"].keys())

    seen: dict[str, int] = {}
    for i, action in enumerate(norm["actions"]):
        raw_action = doc["actions"][i]
        name = action["action"]
        if name in seen:
            problem(["actions", i, "action"],
                    f"repeats action '{name}' already declared at actions[{seen[name]}]")
        seen.setdefault(name, i)
        _warn_unknown(source, doc, ["actions", i], "action", raw_action.keys())
        for iname, item in action["input"].items():
            path = ["actions", i, "input", iname]
            _warn_unknown(source, doc, path, "input", raw_action["input"][iname].keys())
            validation = item.get("validation")
            if check_patterns and validation and validation not in BUILTIN and not \
                    VALIDATOR_NAME_RE.match(validation):
                try:
                    ruby_regex(validation)
                except PatternError as exc:
                    problem([*path, "validation"],
                            f"is not a valid regular expression ({exc}): {validation!r}")
            default = item.get("default")
            if default is not None and not _default_fits(item, default):
                where, _ = describe_path(doc, path)
                log.warning("%s: %s: default %r does not fit type %s; requests relying on "
                            "it will be refused", source, where, default, item["type"])
        for oname in action["output"]:
            _warn_unknown(source, doc, ["actions", i, "output", oname], "output",
                          raw_action["output"][oname].keys())
        for j, agg in enumerate(action["aggregate"]):
            out = agg["args"][0]
            if out not in action["output"]:
                where, _ = describe_path(doc, ["actions", i, "aggregate", j])
                log.warning("%s: %s: %s() summarises '%s', which is not a declared output",
                            source, where, agg["function"], out)
    return norm, problems


#: How many schema differences one warning lists before "and N more".
STRICTER_SHOWN = 5

_METADATA_TEXTS = ("description", "author", "license", "version", "url")


def _stricter_than_go(doc: dict[str, Any]) -> list[str]:
    """What Choria's JSON schema requires that go-choria's loader (and so this one) does
    not: each entry names the place, as in error messages. ``doc`` passed the schema
    above, so its shapes are known."""
    notes: list[str] = []

    def note(path: list[Any], text: str) -> None:
        where = "metadata" if path == ["metadata"] else describe_path(doc, path)[0]
        notes.append(f"{where}: {text}" if where else text)

    def missing(obj: dict[str, Any], keys: Iterable[str]) -> list[str]:
        return [k for k in keys if k not in obj or obj[k] == ""]

    meta = doc["metadata"]
    gone = missing(meta, _METADATA_TEXTS)
    if gone:
        note(["metadata"], f"no {', '.join(repr(k) for k in gone)}")
    for i, action in enumerate(doc["actions"]):
        gone = missing(action, ("description",)) + [k for k in ("input", "output")
                                                      if k not in action]
        if gone:
            note(["actions", i], f"no {', '.join(repr(k) for k in gone)}")
        display = action.get("display")
        if isinstance(display, str) and display not in DISPLAY_VALUES:
            note(["actions", i], f"display {display!r} is not one of "
                 f"{', '.join(DISPLAY_VALUES)}")
        for what in ("input", "output"):
            for name, item in action.get(what, {}).items():
                path = ["actions", i, what, name]
                if not NAME_RE.match(name):
                    note(path, f"name {name!r} is not lower-case letters, digits and '_'")
                if what == "input":
                    keys = ["prompt", "description", "optional"]
                    if str(item.get("type", "")).lower() == "string":
                        keys += ["validation", "maxlength"]
                else:
                    keys = ["description", "display_as"]
                gone = [k for k in keys if k not in item]
                if gone:
                    note(path, f"no {', '.join(repr(k) for k in gone)}")
    return notes


def _default_fits(item: dict[str, Any], default: Any) -> bool:
    kind = item["type"]
    if kind == "list":
        return default in item.get("list", ())
    try:
        typecheck(kind)(default)
    except Exception:
        return False
    return True


def _warn_unknown(source: str, doc: Any, path: list[Any], kind: str,
                  keys: Iterable[str]) -> None:
    """Unknown keys are allowed by the Choria schema and ignored by its loader, so they
    cannot be errors; but they are usually typos (``optinal``), so say so."""
    extra = sorted(set(keys) - KNOWN_KEYS[kind])
    if extra:
        where, _ = describe_path(doc, path)
        log.warning("%s: %signoring unknown key(s) %s", source, f"{where}: " if where else "",
                    ", ".join(repr(k) for k in extra))


__all__ = [
    "DISPLAY_VALUES",
    "DOCUMENT_SCHEMA",
    "INPUT_TYPES",
    "KNOWN_SCHEMAS",
    "SCHEMA_URL",
    "VALIDATOR_NAME_RE",
    "check_document",
    "describe_path",
    "format_error",
]
