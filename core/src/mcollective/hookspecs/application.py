"""Application plugins: the subcommands of ``mco``.

Entry-point group ``mcollective.applications``; ``mco NAME`` runs the application
registered under ``NAME``. An entry point usually names an
:class:`mcollective.cli.application.Application` subclass, which implements this hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcollective.hookspecs import hookspec

if TYPE_CHECKING:
    from mcollective.cli.application import Application


@hookspec(firstresult=True)
def mco_application_class(name: str) -> type[Application]:
    """Return the application class for ``mco <name>``.

    Called by ``mco`` when the user runs that subcommand, and by ``mco help`` to list
    descriptions. A broken application is reported by name; the others keep working.
    """
