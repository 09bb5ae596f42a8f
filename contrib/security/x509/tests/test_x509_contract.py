"""The security contract (``mcollective.testing.security``) on x509: round trips, every
kind of tampering, certificates from another CA, another node's or a client's
certificate on a reply, expired credentials, and the property that whatever arrives
decodes or raises MessageError or SecurityError, never another exception. What only
x509 does (chains, CRLs, allow-lists, names) is tested in test_x509_provider."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from x509_helpers import TestCA, provider

from mcollective.security import SecurityProvider
from mcollective.testing.security import SecurityContract, SecurityFactory, json_values
from mcollective_security_x509 import pki

CA = TestCA("Site")
OTHER_CA = TestCA("Other")
for _name in ("admin", "node1", "node2"):
    CA.issue(_name)
    OTHER_CA.issue(_name)
_EXPIRED_ADMIN = TestCA("Site")


class X509Factory(SecurityFactory):
    altered = "altered after signing"
    malformed = "x509|signature"
    signature_field = "signature"
    extra_fields = ("caller_certificate",)

    def __init__(self, directory: Path) -> None:
        self.authority = CA.authority(directory)
        self.other_authority = OTHER_CA.authority(directory / "other")

    def client(self) -> SecurityProvider:
        return provider(CA, self.authority, "admin")

    def server(self) -> SecurityProvider:
        return provider(CA, self.authority, "node1", "server")

    def foreign_clients(self) -> Mapping[str, SecurityProvider]:
        return {"a certificate from another CA":
                provider(OTHER_CA, self.authority, "admin"),
                "a node certificate not allowed as a client":
                provider(CA, self.authority, "node2")}

    def foreign_servers(self) -> Mapping[str, SecurityProvider]:
        return {"a certificate from another CA":
                provider(OTHER_CA, self.authority, "node1", "server"),
                "node2's certificate": provider(CA, self.authority, "node2", "server"),
                "a client's certificate": provider(CA, self.authority, "admin")}

    def expired_client(self) -> SecurityProvider:
        # Its clock is slow, so it still signs with the certificate it holds.
        then = time.time() - 90 * 86400
        _, cert = CA.issue("admin", valid_from=then - 3600, days=30)
        expired = provider(CA, self.authority, "admin", clock=lambda: then)
        CA.issue("admin")  # later tests get a current certificate again
        assert expired.own.cert is cert
        return expired

    def expired_server(self) -> SecurityProvider:
        then = time.time() - 90 * 86400
        CA.issue("node1", valid_from=then, days=30)
        expired = provider(CA, self.authority, "node1", "server")
        CA.issue("node1")
        return expired

    def field_values(self, field: str, real: Any) -> st.SearchStrategy[Any]:
        if field in ("certificate", "caller_certificate"):
            other = pki.encode_certificate(OTHER_CA.issued["admin"][1])
            return (json_values | st.text(alphabet="ABCabc012+/=", max_size=200)
                    | st.just(other)).filter(lambda v: v != real)
        return super().field_values(field, real)


class TestX509Contract(SecurityContract):
    @pytest.fixture
    def security_factory(self, tmp_path: Path) -> SecurityFactory:
        return X509Factory(tmp_path)
