"""The hostile-input suite (``mcollective.testing.hostile_security``) on real daemons
using x509 certificates laid out as a Puppet ssldir: a client certificate holder sends
tampered, out-of-bounds, replayed and pathological requests while pings must still be
answered."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from x509_helpers import TestCA

from mcollective.testing.hostile_security import HostileSecurityContract, SecuritySite

pytestmark = pytest.mark.slow


class X509Site(SecuritySite):
    def __init__(self, root: Path, nodes: tuple[str, ...]) -> None:
        self.ssldir = TestCA("Site").write_ssldir(root / "ssl", *nodes, "mallory")

    def common(self) -> Mapping[str, Any]:
        return {"securityprovider": "x509", "plugin.psk": None,
                "plugin.x509.ssldir": str(self.ssldir), "plugin.x509.clients": "mallory"}

    def client(self) -> Mapping[str, Any]:
        return {"plugin.x509.certname": "mallory"}


class TestX509Hostile(HostileSecurityContract):
    @pytest.fixture
    def security_site(self, tmp_path: Path) -> SecuritySite:
        return X509Site(tmp_path, self.nodes)
