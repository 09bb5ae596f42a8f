"""Validator plugins: named input checks used by DDLs (``"validation": "shellsafe"``).

Entry-point group ``mcollective.validators``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    pass


@hookspec(firstresult=True)
def mco_validator_create(name: str) -> Callable[[Any], None]:
    """Return the check for validator ``name``: a callable that raises
    :class:`mcollective.errors.ValidatorError` when a value is not acceptable.

    Called when a DDL naming the validator is loaded, on clients and servers. A DDL that
    names a validator nobody provides gets a warning and the value is accepted, as Choria
    does; a validator that raises anything but ``ValidatorError`` is reported by name.
    """
