"""Shared builders for the psk tests (a plain module: the contrib test directories share
one pytest run, so only uniquely named modules are safe to import)."""

from __future__ import annotations

from typing import Any

from mcollective.config import config_from_text
from mcollective.message import Request
from mcollective.testing.security import join_secure, sample_reply, sample_request, split_secure
from mcollective_security_psk.plugin import create_provider
from mcollective_security_psk.provider import PskSecurity

SECRET = "correct horse battery staple"


def provider(secret: str = SECRET, role: str = "client", extra: str = "") -> PskSecurity:
    config = config_from_text(f"identity = node1\nplugin.psk = {secret}\n{extra}")
    return create_provider(config, role, environ={})  # type: ignore[arg-type]


def request(**overrides: Any) -> Request:
    return sample_request(**{"caller": "user=alice", **overrides})


reply = sample_reply
split = split_secure
join = join_secure
