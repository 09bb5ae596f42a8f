"""The hostile-input suite (``mcollective.testing.hostile_security``) on real daemons
using jwt, against the smallest useful client token: one allowing ``rpcutil.ping`` only.
What such a caller can still make a node do (verify, count and drop; evaluate its
filter, bounded) is what docs/security.md's threat model promises."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jwt_helpers import client_token, write_identity, write_issuer

from mcollective.testing.hostile_security import HostileSecurityContract, SecuritySite
from mcollective_security_jwt import keys, tokens

pytestmark = pytest.mark.slow


class JwtSite(SecuritySite):
    def __init__(self, root: Path) -> None:
        self.pki = root / "pki"
        self.issuer_pub = write_issuer(self.pki)
        self.issuer = keys.load_private_key(self.pki / "issuer.key")

    def _identity(self, name: str, token: str, key: Any) -> dict[str, str]:
        key_path, token_path = write_identity(self.pki, name, key, token)
        return {"plugin.jwt.private_key": str(key_path), "plugin.jwt.token": str(token_path)}

    def common(self) -> Mapping[str, Any]:
        return {"securityprovider": "jwt", "plugin.psk": None,
                "plugin.jwt.issuer_public_key": str(self.issuer_pub)}

    def node(self, identity: str) -> Mapping[str, Any]:
        key = keys.generate()
        token = tokens.issue_server(self.issuer, identity=identity,
                                    collectives=["mcollective"],
                                    public_key=keys.public_hex(key),
                                    validity=timedelta(hours=1))
        return self._identity(identity, token, key)

    def client(self) -> Mapping[str, Any]:
        key = keys.generate()
        token = client_token(key, callerid="jwt=mallory", agents=("rpcutil.ping",),
                             issuer=self.issuer)
        return self._identity("mallory", token, key)

    def admin(self) -> Mapping[str, Any]:
        key = keys.generate()
        token = client_token(key, callerid="jwt=admin", agents=("*",), issuer=self.issuer)
        return self._identity("admin", token, key)


class TestJwtHostile(HostileSecurityContract):
    @pytest.fixture
    def security_site(self, tmp_path: Path) -> SecuritySite:
        return JwtSite(tmp_path)
