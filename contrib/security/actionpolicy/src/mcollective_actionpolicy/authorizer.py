"""The authorizer: which policy file applies to a request, and what it says.

Files are read when first needed and re-read when they change (checked with one
``stat`` per request), so editing a policy takes effect on the next request without a
restart or reload. A file that cannot be read or parsed denies every request for its
agent and is logged once per change.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mcollective.authorization import Authorizer, Decision
from mcollective_actionpolicy.policy import Policy, PolicyError, parse_groups, parse_policy
from mcollective_actionpolicy.settings import ActionPolicySettings

if TYPE_CHECKING:
    from mcollective.filters import Node
    from mcollective.message import Request

log = logging.getLogger(__name__)

Signature = tuple[int, int, int, int]
_AGENT = re.compile(r"^[a-z0-9_]+$")
#: Agents allowed when they have no policy file of their own: discovery only answers
#: "this node matches", and denying it would make every other agent undiscoverable.
ALWAYS_ALLOWED = frozenset({"discovery"})


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError:
        return (-1, -1, -1, -1)  # exists but unreadable: reading will report why
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not valid UTF-8 ({exc.reason})", str(path)) from None
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror}", str(path)) from None


class ActionPolicy(Authorizer):
    """MCollective's actionpolicy, with exact caller matching and strict parsing."""

    def __init__(self, settings: ActionPolicySettings) -> None:
        self.settings = settings
        self.groups_file = settings.policy_dir / "groups"
        self._lock = threading.Lock()
        self._groups: tuple[Signature | None, dict[str, frozenset[str]] | PolicyError] = (
            None, {})
        self._policies: dict[Path, tuple[Signature, Signature | None,
                                         Policy | PolicyError]] = {}

    def authorize(self, request: Request, action: str, node: Node) -> Decision:
        agent = request.agent
        if not _AGENT.match(agent):
            return Decision(False, f"agent name {agent!r} cannot name a policy file")
        path, signature = self._policy_file(agent)
        if path is None or signature is None:
            if agent in ALWAYS_ALLOWED:
                return Decision(True, f"no {agent}.policy: {agent} is always allowed")
            allowed = self.settings.allow_unconfigured
            return Decision(allowed, f"no policy file for agent '{agent}' in "
                            f"{self.settings.policy_dir}; allow_unconfigured is "
                            f"{'on' if allowed else 'off'}")
        policy = self._load(path, signature)
        if isinstance(policy, PolicyError):
            # Say which file and line to fix: without it the caller sees an ordinary
            # denial and the operator has to guess that a policy line was not understood.
            broken = policy.cause or policy
            where = Path(broken.source).name + (f":{broken.line}" if broken.line else "")
            return Decision(False, f"broken policy, denying: {policy}",
                            notice=f"{where} on this node cannot be parsed, so every request "
                            f"for '{agent}' is denied until it is fixed (see the node's log)")
        rule = policy.first_match(request.caller, action, node)
        if rule is not None:
            verb = "allowed" if rule.allow else "denied"
            return Decision(rule.allow, f"{verb} by {path}:{rule.line}")
        if policy.default is not None:
            return Decision(policy.default, f"no rule matched; {path}:{policy.default_line} "
                            f"policy default {'allow' if policy.default else 'deny'}")
        allowed = self.settings.allow_unconfigured
        return Decision(allowed, f"no rule matched in {path} and it has no 'policy "
                        f"default'; allow_unconfigured is {'on' if allowed else 'off'}")

    def _policy_file(self, agent: str) -> tuple[Path | None, Signature | None]:
        """The agent's own policy, else the default policy when enabled."""
        own = self.settings.policy_dir / f"{agent}.policy"
        signature = _signature(own)
        if signature is not None:
            return own, signature
        if self.settings.enable_default and agent not in ALWAYS_ALLOWED:
            default = self.settings.policy_dir / f"{self.settings.default_name}.policy"
            return default, _signature(default)
        return None, None

    def _load(self, path: Path, signature: Signature) -> Policy | PolicyError:
        with self._lock:
            groups_signature, groups = self._current_groups()
            cached = self._policies.get(path)
            if cached is not None and cached[:2] == (signature, groups_signature):
                return cached[2]
            result: Policy | PolicyError
            try:
                if isinstance(groups, PolicyError):
                    error = PolicyError(f"groups file is broken: {groups}", str(path))
                    error.cause = groups
                    raise error
                result = parse_policy(_read(path), str(path), groups, str(self.groups_file))
                log.info("actionpolicy: loaded %s (%d rules)", path, len(result.rules))
            except PolicyError as exc:
                log.error("actionpolicy: %s; denying every request it governs until fixed",
                          exc)
                result = exc
            self._policies[path] = (signature, groups_signature, result)
            return result

    def _current_groups(self) -> tuple[Signature | None,
                                       dict[str, frozenset[str]] | PolicyError]:
        signature = _signature(self.groups_file)
        if signature == self._groups[0]:
            return self._groups
        groups: dict[str, frozenset[str]] | PolicyError
        if signature is None:
            groups = {}
        else:
            try:
                groups = parse_groups(_read(self.groups_file), str(self.groups_file))
            except PolicyError as exc:
                groups = exc
        self._groups = (signature, groups)
        return self._groups
