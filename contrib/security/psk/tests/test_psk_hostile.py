"""The hostile-input suite (``mcollective.testing.hostile_security``) on real daemons
using psk: any key holder sends tampered, out-of-bounds, replayed and pathological
requests while pings must still be answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcollective.testing.hostile_security import HostileSecurityContract, SecuritySite

pytestmark = pytest.mark.slow


class TestPskHostile(HostileSecurityContract):
    @pytest.fixture
    def security_site(self, tmp_path: Path) -> SecuritySite:
        return SecuritySite()  # LocalCollective's own configuration is psk
