"""The security contract runs in core too, on the HMAC provider core's own in-process
tests use: the contract's checks change with core, not only in the plugins' suites."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mcollective.security import SecurityProvider
from mcollective.testing.contracts import ContractSecurity
from mcollective.testing.security import SecurityContract, SecurityFactory


class ContractSecurityFactory(SecurityFactory):
    signature_field = "signature"

    def client(self) -> SecurityProvider:
        return ContractSecurity()

    def server(self) -> SecurityProvider:
        return ContractSecurity()

    def foreign_clients(self) -> Mapping[str, SecurityProvider]:
        return {"another key": ContractSecurity(key=b"another key")}

    def foreign_servers(self) -> Mapping[str, SecurityProvider]:
        return {"another key": ContractSecurity(key=b"another key")}


class TestContractSecurity(SecurityContract):
    @pytest.fixture
    def security_factory(self) -> SecurityFactory:
        return ContractSecurityFactory()
