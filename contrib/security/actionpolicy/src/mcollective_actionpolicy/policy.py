"""Policy and groups files: parsed once, checked per request.

A policy file (``policies/<agent>.policy``)::

    # comments and blank lines are ignored
    policy default deny
    allow	user=alice admins	*	*	*
    allow	*	status	country=uk role=web	apache
    deny	*	stop restart	environment=production	*
    allow	user=bob	restart	(country=uk or country=de) and !role=db

Rules are ``allow|deny``, callers, actions, facts and optionally classes, separated by
TAB characters. The first rule that matches decides; when none does, ``policy default``
does (or the plugin's ``allow_unconfigured`` when the file has no such line).

Callers are caller ids (``user=alice``), group names from ``groups``, or regular
expressions between slashes (``/^choria=.+[.]ops$/``), as both upstream implementations
(Ruby actionpolicy and go-choria) accept. Group members are taken as written: a member
that is not ``kind=name`` (``alice``) is accepted as upstream accepts it, matched
exactly, and warned about, since it can only match a caller id spelt that way.

Everything else is validated when the file is read: an unparsable line is a
:class:`PolicyError` naming the file and line, and the authorizer then denies every
request for that agent, telling the caller which file and line to fix. The original
skipped such lines with a debug message, which turned a mistyped ``deny`` into silent
permission.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mcollective.errors import FilterSyntaxError
from mcollective.filters import Filter, Node, parse_compound, parse_fact_filter
from mcollective.security import CALLER_RE
from mcollective.validators import ruby_regex

log = logging.getLogger("mcollective.actionpolicy")

_CALLER = re.compile(CALLER_RE)
_GROUP = re.compile(r"^[\w.\-]+$")
_ACTION = re.compile(r"^\w+$")
#: ``/.../``: a caller regex (Ruby actionpolicy and go-choria both take these).
_REGEX_TOKEN = re.compile(r"^/(.+)/$")
_POLICY_DEFAULT = re.compile(r"^policy\s+default\s+(\S+)\s*$")
#: A token that makes a facts or classes field a compound expression: ``!x``, ``not``,
#: ``and``, ``or`` as the original decided, or any parenthesis (the original wanted a
#: whole ``(...)`` in one token and so misread ``( a or b )``).
_COMPOUND_TOKEN = re.compile(r"^!|^not$|^or$|^and$|[()]")


class PolicyError(ValueError):
    """A policy or groups file that cannot be used; the message names file and line."""

    def __init__(self, message: str, source: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
        self.source, self.line = source, line
        #: The groups file's error behind a policy that cannot be used because of it.
        self.cause: PolicyError | None = None


@dataclass(frozen=True)
class Rule:
    """One ``allow``/``deny`` line. ``None`` callers or actions mean ``*``; a ``None``
    filter matches every node."""

    allow: bool
    callers: frozenset[str] | None
    actions: frozenset[str] | None
    filter: Filter | None
    line: int
    #: ``/regex/`` callers, searched in the caller id as Ruby's ``=~`` and Go's
    #: ``MatchString`` do (anchor them with ``^``/``$`` to match the whole id).
    caller_patterns: tuple[re.Pattern[str], ...] = ()

    def matches(self, caller: str, action: str, node: Node) -> bool:
        # Exact membership: the original tested the caller as a substring of the policy
        # text, so ``uid=50`` matched a rule written for ``uid=500``.
        if self.callers is not None and caller not in self.callers and not any(
                p.search(caller) for p in self.caller_patterns):
            return False
        if self.actions is not None and action not in self.actions:
            return False
        return self.filter is None or self.filter.matches(node)


@dataclass(frozen=True)
class Policy:
    """A parsed policy file."""

    source: str
    rules: tuple[Rule, ...]
    default: bool | None = None
    default_line: int | None = None

    def first_match(self, caller: str, action: str, node: Node) -> Rule | None:
        for rule in self.rules:
            if rule.matches(caller, action, node):
                return rule
        return None


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def parse_groups(text: str, source: str) -> dict[str, frozenset[str]]:
    """``policies/groups``: lines of ``name callerid callerid ...``."""
    groups: dict[str, frozenset[str]] = {}
    first_seen: dict[str, int] = {}
    for number, line in _lines(text):
        name, *members = line.split()
        if not _GROUP.match(name) or "=" in name:
            raise PolicyError(f"invalid group name {name!r} (letters, digits, '_', '.', '-')",
                              source, number)
        if name in groups:
            raise PolicyError(f"group {name!r} is already defined on line "
                              f"{first_seen[name]}", source, number)
        for member in members:
            regex = _REGEX_TOKEN.match(member)
            if regex:
                _compile(regex.group(1), f"group {name!r}: member {member!r}", source,
                         number)
            elif not _CALLER.match(member):
                # Ruby actionpolicy and go-choria take members as written and compare
                # them exactly; refusing the file would deny every agent with a policy.
                log.warning("%s:%s: group %r: member %r is not a caller id (kind=name, "
                            "e.g. user=alice); it only matches a caller id spelt exactly so",
                            source, number, name, member)
        groups[name] = frozenset(members)
        first_seen[name] = number
    return groups


def parse_policy(text: str, source: str,
                 groups: Mapping[str, frozenset[str]] | None = None,
                 groups_source: str = "groups") -> Policy:
    """Parse a policy file; raise :class:`PolicyError` on the first bad line."""
    groups = groups or {}
    rules: list[Rule] = []
    default: bool | None = None
    default_line: int | None = None
    for number, line in _lines(text):
        found = _POLICY_DEFAULT.match(line)
        if found:
            if default_line is not None:
                raise PolicyError(f"'policy default' is already set on line {default_line}",
                                  source, number)
            value = found.group(1)
            if value not in ("allow", "deny"):
                raise PolicyError(f"'policy default' must be allow or deny, not {value!r}",
                                  source, number)
            default, default_line = value == "allow", number
            continue
        rules.append(_parse_rule(line, number, source, groups, groups_source))
    return Policy(source, tuple(rules), default, default_line)


def _parse_rule(line: str, number: int, source: str, groups: Mapping[str, frozenset[str]],
                groups_source: str) -> Rule:
    verb = line.split(None, 1)[0]
    if verb not in ("allow", "deny"):
        raise PolicyError(f"cannot parse {line!r}: expected 'policy default allow|deny' or "
                          "a rule starting with allow or deny", source, number)
    fields = [f.strip() for f in re.split(r"\t+", line)]
    if len(fields) not in (4, 5):
        hint = (" (fields are separated by TAB characters, not spaces)"
                if len(fields) < 4 else "")
        raise PolicyError(f"a rule has 4 or 5 fields: allow|deny, callers, actions, facts "
                          f"[, classes]; found {len(fields)}{hint}", source, number)
    if fields[0] != verb:
        raise PolicyError(f"expected a TAB after {verb!r}", source, number)
    try:
        callers, patterns = _callers(fields[1], groups, groups_source)
        return Rule(
            allow=verb == "allow",
            callers=callers,
            actions=_actions(fields[2]),
            filter=_node_filter(fields[3], fields[4] if len(fields) == 5 else None),
            line=number,
            caller_patterns=patterns,
        )
    except (ValueError, FilterSyntaxError) as exc:
        raise PolicyError(str(exc), source, number) from None


def _compile(pattern: str, what: str, source: str, number: int) -> re.Pattern[str]:
    try:
        return ruby_regex(pattern)
    except re.error as exc:
        raise PolicyError(f"{what} is not a valid regular expression ({exc})", source,
                          number) from None


def _callers(field: str, groups: Mapping[str, frozenset[str]], groups_source: str
             ) -> tuple[frozenset[str] | None, tuple[re.Pattern[str], ...]]:
    """Exact caller ids and ``/regex/`` patterns of a callers field (groups expanded);
    ``None`` for ``*``."""
    if field == "*":
        return None, ()
    out: set[str] = set()
    patterns: list[re.Pattern[str]] = []

    def add(token: str) -> None:
        regex = _REGEX_TOKEN.match(token)
        if regex:
            try:
                patterns.append(ruby_regex(regex.group(1)))
            except re.error as exc:
                raise ValueError(f"caller {token!r} is not a valid regular expression "
                                 f"({exc})") from None
        else:
            out.add(token)

    for token in field.split():
        if token in groups:
            for member in groups[token]:
                add(member)
        elif _CALLER.match(token) or _REGEX_TOKEN.match(token):
            add(token)
        else:
            raise ValueError(f"caller {token!r} is neither a caller id (kind=name, e.g. "
                             f"user=alice), a /regular expression/ nor a group defined in "
                             f"{groups_source}")
    return frozenset(out), tuple(patterns)


def _actions(field: str) -> frozenset[str] | None:
    if field == "*":
        return None
    tokens = field.split()
    for token in tokens:
        if not _ACTION.match(token):
            raise ValueError(f"action {token!r} is not an action name")
    return frozenset(tokens)


def is_compound(field: str) -> bool:
    """Whether a facts or classes field is a compound expression (the original's test)."""
    return any(_COMPOUND_TOKEN.search(token) for token in field.split())


def _node_filter(facts: str, classes: str | None) -> Filter | None:
    """The node test of a rule. With four fields the last is a compound expression,
    except that ``*`` matches every node (the original looked ``*`` up as a class name,
    so such a rule never matched)."""
    if classes is None:
        return None if facts == "*" else Filter(compound=[parse_compound(facts)])
    compound = []
    fact_filters = []
    class_names: list[str] = []
    if facts != "*":
        if is_compound(facts):
            compound.append(parse_compound(facts))
        else:
            fact_filters = [parse_fact_filter(term) for term in facts.split()]
    if classes != "*":
        if is_compound(classes):
            compound.append(parse_compound(classes))
        else:
            class_names = classes.split()
    if not (compound or fact_filters or class_names):
        return None
    return Filter(facts=fact_filters, classes=class_names, compound=compound)
