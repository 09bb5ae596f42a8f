"""Serving the console with uvicorn, until interrupted."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective_web.settings import WebSettings

log = logging.getLogger(__name__)


def serve(config: Config, settings: WebSettings, *, out: Any) -> int:
    import uvicorn

    from mcollective_web.app import build_console, create_app
    from mcollective_web.auth import proofs_supported

    console = build_console(config, settings)
    app = create_app(console)
    users = len(console.accounts.users())
    security = console.gateway.session.security.name
    out.print(f"mco web: {settings.url}/ for collective(s) "
              f"{', '.join(config.collectives)} (security {security}, {users} account(s))",
              markup=False)
    if not users and not proofs_supported(console):
        out.print(f"mco web: no accounts yet: add one with 'mco web useradd NAME' "
                  f"(accounts file {settings.users_file})", markup=False, style="yellow")
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level="warning", access_log=False, server_header=False, proxy_headers=False,
        timeout_graceful_shutdown=3, lifespan="on"))
    server.run()
    return 0 if server.started else 1
