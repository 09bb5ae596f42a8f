"""In-process daemons serving chosen agent plugins, and ``mco`` applications run against
them in the same process (for output, external-agent and builder tests).

Like ``inprocess.collective`` but the caller says which agents to register and gets the
plugin manager back, so aggregates and applications resolve the installed plugins."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from inprocess import HmacSecurity, node_config

from mcollective.client import ClientSession
from mcollective.plugins import PluginManager, make_plugin_manager
from mcollective.server.daemon import Daemon


@dataclass
class Nodes:
    daemons: list[Daemon]
    session: ClientSession
    plugins: PluginManager


@contextmanager
def nodes(*identities: str, agents: dict[str, Any], extra: str = "") -> Iterator[Nodes]:
    """Daemons for ``identities`` on a fresh loopback broker; ``agents`` maps plugin name
    to plugin object (an Agent subclass, or a provider such as ExternalAgents)."""
    broker = uuid.uuid4().hex
    pm = make_plugin_manager()
    pm.register("security", "contracttest", HmacSecurity)
    for name, obj in agents.items():
        pm.register("agent", name, obj)
    daemons: list[Daemon] = []
    try:
        for ident in identities:
            daemon = Daemon(node_config(ident, broker, extra), plugins=pm)
            daemon.start()
            daemons.append(daemon)
        session = ClientSession(node_config("client", broker, extra), plugins=pm)
        session.connect()
        try:
            yield Nodes(daemons, session, pm)
        finally:
            session.close()
    finally:
        for daemon in daemons:
            daemon.stop(timeout=2)


@dataclass
class AppRun:
    code: int
    out: str
    err: str


def run_app(app_class: type, env: Nodes, *argv: str) -> AppRun:
    """Run an application's ``main`` with this collective's session and plugins,
    capturing stdout and stderr (not terminals: no colours, no progress bar)."""
    out, err = io.StringIO(), io.StringIO()
    app = app_class(env.plugins, stdout=out, stderr=err)
    app.args = app.build_parser().parse_args(list(argv))
    app.config = env.session.config
    app._session = env.session
    code = app.main(app.args)
    return AppRun(int(code or 0), out.getvalue(), err.getvalue())
