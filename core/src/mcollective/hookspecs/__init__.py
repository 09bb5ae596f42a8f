"""Hook specifications: the contracts between mcollective and its plugins.

There is one module per plugin kind. Every hook is prefixed ``mco_`` and *creates*
something (a connector, a security provider, a facts source...). Per-message work is
done by the objects those hooks return, never by a hook call per message, so the hot
path never goes through pluggy.

Every hook receives the entry-point ``name`` the plugin was loaded under, so one
implementation can serve several names, and only the plugin loaded under that name is
asked: results never combine across plugins unless a hook says so.

Only :data:`hookimpl` is public. The spec marker is for core alone, so that only core
defines hooks (as tox does).
"""

from __future__ import annotations

import pluggy

PROJECT = "mcollective"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Spec modules, one per plugin kind, in the order they are added to a manager.
SPEC_MODULES: tuple[str, ...] = (
    "mcollective.hookspecs.connector",
    "mcollective.hookspecs.security",
    "mcollective.hookspecs.facts",
    "mcollective.hookspecs.audit",
    "mcollective.hookspecs.registration",
    "mcollective.hookspecs.authorization",
    "mcollective.hookspecs.agent",
    "mcollective.hookspecs.discovery",
    "mcollective.hookspecs.data",
    "mcollective.hookspecs.aggregate",
    "mcollective.hookspecs.validator",
    "mcollective.hookspecs.application",
)

__all__ = ["PROJECT", "SPEC_MODULES", "hookimpl", "hookspec"]
