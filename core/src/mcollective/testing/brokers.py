"""Real brokers for tests: reachable → run; unreachable → skip, or fail when
``MCO_REQUIRE_BROKERS=1`` (as CI sets), so a broken CI broker can never pass silently."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

DEFAULT_URLS = {
    "amqp": "amqp://guest:guest@127.0.0.1:5672//",
    "redis": "redis://127.0.0.1:6379/0",
}
ENV = {"amqp": "MCO_TEST_AMQP_URL", "redis": "MCO_TEST_REDIS_URL"}


def broker_url(kind: str) -> str:
    return os.environ.get(ENV[kind], DEFAULT_URLS[kind])


def brokers_required() -> bool:
    return os.environ.get("MCO_REQUIRE_BROKERS", "") not in ("", "0", "false", "no")


def reachable(url: str, timeout: float = 1.0) -> str | None:
    """``None`` if a TCP connection to the URL's host and port succeeds, else why not."""
    parts = urlsplit(url)
    port = parts.port or {"amqp": 5672, "pyamqp": 5672, "redis": 6379}.get(parts.scheme, 0)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout):
            return None
    except OSError as exc:
        return f"{parts.scheme} broker at {parts.hostname}:{port} unreachable: {exc}"


def require_broker(kind: str) -> str:
    """The broker URL, or skip/fail the calling test."""
    import pytest

    url = broker_url(kind)
    problem = reachable(url)
    if problem:
        if brokers_required():
            pytest.fail(f"MCO_REQUIRE_BROKERS=1 but {problem}")
        pytest.skip(problem)
    return url
