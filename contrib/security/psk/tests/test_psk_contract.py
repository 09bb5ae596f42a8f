"""The security contract (``mcollective.testing.security``) on psk: round trips, every
kind of tampering, foreign keys, and the property that whatever arrives decodes or
raises MessageError or SecurityError, never another exception. What only psk does (key
ids, caller ids, key sources) is tested in test_psk_provider and test_psk_keys."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from psk_helpers import provider

from mcollective.testing.security import SecurityContract, SecurityFactory
from mcollective_security_psk.provider import PskSecurity


class PskFactory(SecurityFactory):
    altered = "altered after signing"
    malformed = "psk"
    signature_field = "signature"

    def client(self) -> PskSecurity:
        return provider(role="client")

    def server(self) -> PskSecurity:
        return provider(role="server")

    def foreign_clients(self) -> Mapping[str, PskSecurity]:
        return {"another key": provider("another secret", role="client")}

    def foreign_servers(self) -> Mapping[str, PskSecurity]:
        return {"another key": provider("another secret", role="server")}


class TestPskContract(SecurityContract):
    @pytest.fixture
    def security_factory(self) -> SecurityFactory:
        return PskFactory()
