"""A small CA in Python for the x509 tests, laid out as Puppet 7 lays out an ssldir: a
root and an intermediate CA in ``certs/ca.pem``, one CRL per CA in ``crl.pem``, each
certificate in ``certs/<certname>.pem`` and its key (0600) in
``private_keys/<certname>.pem``. (A plain module with a unique name: the contrib test
directories may share one pytest run.) The end-to-end test with Debian's real
``puppetserver ca`` is test_x509_puppetserver."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mcollective.testing.security import join_secure, sample_reply, sample_request, split_secure
from mcollective_security_x509 import pki
from mcollective_security_x509.credentials import Own
from mcollective_security_x509.provider import X509Security

DAY = timedelta(days=1)
_KEYS: dict[str, Any] = {}


def new_key(kind: str = "ec") -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _hash(key: Any) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


class TestCA:
    """A root CA and an intermediate CA that issues every leaf, as Puppet 7 does."""

    __test__ = False  # not a test class

    def __init__(self, name: str = "Test", *, intermediate: bool = True) -> None:
        now = datetime.now(UTC)
        self.root_key = new_key("ec")
        self.root = self._cert(_name(f"{name} Root CA"), self.root_key.public_key(),
                               _name(f"{name} Root CA"), self.root_key, now - DAY,
                               now + 3650 * DAY, ca=True)
        if intermediate:
            self.key = new_key("ec")
            self.cert = self._cert(_name(f"{name} CA"), self.key.public_key(),
                                   self.root.subject, self.root_key, now - DAY,
                                   now + 3650 * DAY, ca=True)
        else:
            self.key, self.cert = self.root_key, self.root
        self.revoked: list[x509.Certificate] = []
        self.issued: dict[str, tuple[Any, x509.Certificate]] = {}

    @staticmethod
    def _cert(subject: x509.Name, public_key: Any, issuer: x509.Name, signing_key: Any,
              not_before: datetime, not_after: datetime, *, ca: bool = False,
              san: list[x509.GeneralName] | None = None) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                  critical=True))
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=True)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signing_key, _hash(signing_key))

    def issue(self, certname: str, *, kind: str = "ec", valid_from: float | None = None,
              days: float = 30, san: list[x509.GeneralName] | None = None,
              ca: bool = False, store: bool = True) -> tuple[Any, x509.Certificate]:
        """A key and a certificate for ``certname`` (valid from ``valid_from``, a Unix
        time, for ``days``); remembered as ``certname``'s unless ``store`` is false."""
        key = new_key(kind)
        start = datetime.fromtimestamp(time.time() - 3600 if valid_from is None
                                       else valid_from, UTC)
        cert = self._cert(_name(certname), key.public_key(), self.cert.subject, self.key,
                          start, start + timedelta(days=days), ca=ca,
                          san=san if san is not None else [x509.DNSName(certname)])
        if store:
            self.issued[certname] = (key, cert)
        return key, cert

    def revoke(self, cert: x509.Certificate) -> None:
        self.revoked.append(cert)

    def crls(self) -> list[x509.CertificateRevocationList]:
        now = datetime.now(UTC)
        out = []
        for issuer, key, revoked in ((self.cert, self.key, self.revoked),
                                     (self.root, self.root_key, [])):
            builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
                       .last_update(now - DAY).next_update(now + 365 * DAY))
            for cert in revoked:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                    .revocation_date(now - DAY).build())
            out.append(builder.sign(key, _hash(key)))
            if issuer is self.root:
                break
        return out[:1] if self.root is self.cert else out

    def bundle(self) -> list[x509.Certificate]:
        return [self.cert] if self.cert is self.root else [self.cert, self.root]

    def authority(self, directory: Path) -> pki.Authority:
        ca, crl = self.write_ca(directory)
        return pki.Authority(ca, crl)

    def write_ca(self, directory: Path) -> tuple[Path, Path]:
        (directory / "certs").mkdir(parents=True, exist_ok=True)
        ca = directory / "certs" / "ca.pem"
        ca.write_bytes(b"".join(pem(c) for c in self.bundle()))
        crl = directory / "crl.pem"
        crl.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                 for c in self.crls()))
        return ca, crl

    def write_ssldir(self, directory: Path, *certnames: str) -> Path:
        """``directory`` laid out as a Puppet ssldir with the CA and ``certnames``
        (issued here unless they were already)."""
        self.write_ca(directory)
        for certname in certnames:
            key, cert = self.issued.get(certname) or self.issue(certname)
            write_identity(directory, certname, key, cert)
        return directory


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL
                             if isinstance(key, rsa.RSAPrivateKey)
                             else serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_identity(ssldir: Path, certname: str, key: Any, cert: x509.Certificate
                   ) -> tuple[Path, Path]:
    (ssldir / "certs").mkdir(parents=True, exist_ok=True)
    (ssldir / "private_keys").mkdir(parents=True, exist_ok=True, mode=0o750)
    cert_path = ssldir / "certs" / f"{certname}.pem"
    cert_path.write_bytes(pem(cert))
    key_path = ssldir / "private_keys" / f"{certname}.pem"
    key_path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem(key))
    return cert_path, key_path


def provider(ca: TestCA, authority: pki.Authority, certname: str, role: str = "client",
             **kwargs: Any) -> X509Security:
    """A provider built directly (certificate not checked, so tests can give a process
    an unusable one)."""
    key, cert = ca.issued.get(certname) or ca.issue(certname)
    own = Own(key=key, cert=cert, certname=certname, cert_path=Path(f"{certname}.pem"),
              wire=pki.encode_certificate(cert))
    kwargs.setdefault("clients", ("admin", "*.ops"))
    return X509Security(own, authority, role=role, **kwargs)  # type: ignore[arg-type]


request = sample_request
reply = sample_reply
split = split_secure
join = join_secure
