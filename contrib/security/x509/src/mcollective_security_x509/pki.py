"""Reading a site's PKI files and checking certificates against its CA.

Everything here works on what a Puppet CA (or any other) already wrote: PEM private keys
(PKCS#1 or PKCS#8; RSA, EC or ed25519), PEM certificates, a CA bundle of one or more
certificates (Puppet 7's holds its root and intermediate CA) and a CRL file of one or
more revocation lists (Puppet's holds one per CA). Problems raise :class:`PkiError`, a
ValueError whose message names the file and says what is wrong.

Chain checking is done here, with ``cryptography``'s primitives, rather than through a
TLS library's verifier: those apply the Web PKI's rules (server names, key usages) that
an internal Puppet CA's certificates need not follow, and none of them checks a CRL.
The rules: every certificate of the chain is inside its validity window (give or take
the clock skew); each is signed by the next, whose subject is its issuer, which is a CA
certificate (basic constraints ``CA:TRUE``) from the configured bundle; the chain ends at
a self-signed certificate of the bundle (or at a bundle certificate whose issuer the
bundle lacks); no certificate of the chain is on a revocation list its issuer signed.
The signer's own certificate must not be a CA certificate.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import logging
import os
import re
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | \
    ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | \
    ed25519.Ed25519PublicKey

#: PKI files are a few kilobytes; a CRL of a large site can be a few megabytes.
MAX_FILE = 16 * 1024 * 1024
#: A certificate on the wire (base64 of its DER); RSA-8192 with many extensions fits.
MAX_CERTIFICATE_B64 = 16 * 1024
#: Certificates above the signer's in a chain (root, intermediates).
MAX_CHAIN = 8
#: Verified certificates remembered, keyed by their DER; a fleet has few distinct ones.
CACHE_SIZE = 4096
#: How often, at most, the CA bundle and CRL files are looked at for a change.
RELOAD_INTERVAL = 2.0
#: The characters a certificate name may have to become a caller id (core's CALLER_RE).
NAME_RE = re.compile(r"[\w.\-@]+")
#: Where the caller id's name comes from: the subject's common name or a SAN.
NAME_SOURCES = ("cn", "dns", "email", "uri")

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


class PkiError(ValueError):
    """A key, certificate or CRL cannot be used; the message names the file."""


class CertificateError(ValueError):
    """A certificate does not verify against the CA (message says why)."""


# --- files --------------------------------------------------------------------------------


def _check_private_mode(path: Path, mode: int) -> None:
    """Refuse private keys others can read or anyone but the owner can change.

    Group read is allowed with a warning, as for the psk and jwt plugins: Puppet writes
    its keys 0640 and a group is how several accounts share one identity."""
    if os.name == "nt":  # ACLs, not mode bits, protect files there
        return
    perms = stat.S_IMODE(mode)
    if perms & (stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP):
        raise PkiError(f"private key {path} has mode {perms:04o}: it must not be "
                       f"accessible by others nor writable by its group; run "
                       f"'chmod 600 {path}'")
    if perms & stat.S_IRGRP:
        log.warning("private key %s is readable by its group (mode %04o): every member "
                    "can act as its owner", path, perms)


def read_file(path: Path, what: str, *, private: bool = False) -> bytes:
    """The bytes of a regular file of bounded size; private keys are permission-checked."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the process.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise PkiError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode  # the mode of the file actually read
        if not stat.S_ISREG(mode):
            raise PkiError(f"{what} {path} is not a regular file")
        if private:
            _check_private_mode(path, mode)
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FILE:
                raise PkiError(f"{what} {path} is larger than {MAX_FILE} bytes")
    except OSError as exc:
        raise PkiError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def pem_blocks(data: bytes, kind: str) -> list[bytes]:
    """The PEM blocks of ``kind`` (``CERTIFICATE``, ``X509 CRL``) in ``data``."""
    return [m.group(0) for m in _PEM_BLOCK.finditer(data) if m.group(1) == kind.encode()]


def load_private_key(path: Path) -> PrivateKey:
    data = read_file(path, "private key", private=True)
    if b"PRIVATE KEY" not in data:
        hint = " (it holds a certificate)" if b"CERTIFICATE" in data else ""
        raise PkiError(f"private key {path} is not a PEM private key{hint}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PkiError(f"private key {path} is encrypted; give an unencrypted key "
                       "(as Puppet writes them)") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"private key {path} cannot be read: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                      | ed25519.Ed25519PrivateKey):
        raise PkiError(f"private key {path} is a {type(key).__name__.removeprefix('_')}; "
                       "RSA, EC and ed25519 keys are supported")
    return key


def load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    data = read_file(path, what)
    blocks = pem_blocks(data, "CERTIFICATE")
    if not blocks:
        raise PkiError(f"{what} {path} holds no PEM certificate")
    out = []
    for number, block in enumerate(blocks, 1):
        try:
            out.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise PkiError(f"{what} {path}: certificate {number} cannot be read: {exc}"
                           ) from None
    return out


def load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    data = read_file(path, "CRL")
    blocks = pem_blocks(data, "X509 CRL")
    if not blocks:
        raise PkiError(f"CRL {path} holds no PEM revocation list")
    out = []
    for number, block in enumerate(blocks, 1):
        try:
            out.append(x509.load_pem_x509_crl(block))
        except ValueError as exc:
            raise PkiError(f"CRL {path}: revocation list {number} cannot be read: {exc}"
                           ) from None
    return out


# --- signatures ------------------------------------------------------------------------------


def public_key_of(cert: x509.Certificate) -> PublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey
                      | ed25519.Ed25519PublicKey):
        raise CertificateError(f"its {type(key).__name__.removeprefix('_')} key is not "
                               "supported (RSA, EC and ed25519 are)")
    return key


def sign(key: PrivateKey, data: bytes) -> bytes:
    """RSA PKCS#1 v1.5 with SHA-256 (what Choria signs with), ECDSA with SHA-256, or
    ed25519."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data)


def verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def same_key(private: PrivateKey, cert: x509.Certificate) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return private.public_key().public_bytes(der, spki) == \
        cert.public_key().public_bytes(der, spki)


# --- names -------------------------------------------------------------------------------------


def describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number}"


def certname(cert: x509.Certificate, source: str = "cn") -> str:
    """The certificate's name: its subject's common name, or its first subject
    alternative name of the kind ``source`` names. CertificateError when it has none
    usable as a caller id."""
    if source == "cn":
        values = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        kind = "common name"
    else:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise CertificateError(f"{describe(cert)} has no subject alternative names "
                                   f"(plugin.x509.name_from = {source})") from None
        if source == "dns":
            values = list(san.get_values_for_type(x509.DNSName))
        elif source == "email":
            values = list(san.get_values_for_type(x509.RFC822Name))
        else:
            values = list(san.get_values_for_type(x509.UniformResourceIdentifier))
        kind = f"{source} subject alternative name"
    if not values:
        raise CertificateError(f"{describe(cert)} has no {kind}")
    name = values[0]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise CertificateError(f"{describe(cert)}: its {kind} {name!r} cannot be a caller "
                               "id (letters, digits, '.', '-', '_' and '@' only)")
    return name


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Does ``name`` match one of the shell-style ``patterns`` (``*.example.net``)?"""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


# --- the certificate on the wire ----------------------------------------------------------------


def encode_certificate(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def decode_certificate(text: str) -> x509.Certificate:
    """A certificate from the base64 of its DER; ValueError when it is not one."""
    if len(text) > MAX_CERTIFICATE_B64:
        raise ValueError(f"longer than {MAX_CERTIFICATE_B64} characters")
    try:
        der = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64") from None
    if base64.b64encode(der).decode("ascii") != text:
        raise ValueError("not canonical base64")
    try:
        cert = x509.load_der_x509_certificate(der)
        # cryptography parses fields when they are first read: read every one used
        # later now, so that a malformed certificate fails here, as ValueError.
        _ = (cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc,
             cert.serial_number, cert.public_key(), cert.signature_hash_algorithm)
        for extension in cert.extensions:
            _ = extension.value
    except Exception as exc:  # adversarial input: any parse failure is "not a certificate"
        raise ValueError(f"not a certificate ({type(exc).__name__}: {exc})") from None
    return cert


# --- the CA -------------------------------------------------------------------------------------


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Verified:
    """A certificate that chains to the CA: its chain (itself first) and the window in
    which every certificate of the chain is valid."""

    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    not_before: datetime
    not_after: datetime
    #: The subject's name, once per certificate (``cn`` and each SAN kind asked for).
    names: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def not_before_ts(self) -> float:
        return self._stamps[0]

    @property
    def not_after_ts(self) -> float:
        return self._stamps[1]

    @functools.cached_property
    def _stamps(self) -> tuple[float, float]:
        return self.not_before.timestamp(), self.not_after.timestamp()

    @functools.cached_property
    def links(self) -> tuple[tuple[x509.Certificate, x509.Certificate], ...]:
        """(certificate, its issuer) pairs, for the revocation check."""
        return tuple(zip(self.chain, self.chain[1:], strict=False))

    def name(self, source: str) -> str:
        """:func:`certname` of the certificate, computed once per source."""
        found = self.names.get(source)
        if found is None:
            found = self.names[source] = certname(self.cert, source)
        return found


class Authority:
    """The trusted CA certificates and their revocation lists, re-read when their files
    change (a Puppet agent refreshes ``crl.pem``; the new list counts without a
    restart). A changed file that cannot be read is logged and the previous contents
    stay in force."""

    def __init__(self, ca_path: Path, crl_path: Path | None, *,
                 clock_skew: float = 30.0) -> None:
        self.ca_path = ca_path
        self.crl_path = crl_path
        self.clock_skew = clock_skew
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes | str, Verified] = OrderedDict()
        self._next_check = 0.0
        self._stamps = self._file_stamps()
        self._load()

    def _file_stamps(self) -> tuple[tuple[int, int, int] | None, ...]:
        out: list[tuple[int, int, int] | None] = []
        for path in (self.ca_path, self.crl_path):
            try:
                st = os.stat(path) if path is not None else None
            except OSError:
                st = None
            out.append((st.st_ino, st.st_size, st.st_mtime_ns) if st else None)
        return tuple(out)

    def _load(self) -> None:
        cas = load_certificates(self.ca_path, "CA bundle")
        for cert in cas:
            if not _is_ca(cert):
                raise PkiError(f"CA bundle {self.ca_path}: {describe(cert)} is not a CA "
                               "certificate (no basic constraints CA:TRUE)")
        # By issuer name: a reloaded bundle's certificates are new objects.
        revoked: dict[x509.Name, frozenset[int]] = {}
        if self.crl_path is not None:
            crls = load_crls(self.crl_path)
            for crl in crls:
                issuers = [ca for ca in cas if ca.subject == crl.issuer
                           and crl.is_signature_valid(public_key_of(ca))]
                if not issuers:
                    raise PkiError(f"CRL {self.crl_path}: the revocation list of "
                                   f"{crl.issuer.rfc4514_string()} is not signed by a CA "
                                   f"of {self.ca_path}")
                serials = frozenset(r.serial_number for r in crl)
                revoked[crl.issuer] = revoked.get(crl.issuer, frozenset()) | serials
        self._cas = cas
        self._revoked = revoked
        self._cache.clear()

    def refresh(self) -> None:
        """Re-read the files if they changed (looked at every RELOAD_INTERVAL at most)."""
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._lock:
            if now < self._next_check:
                return
            self._next_check = now + RELOAD_INTERVAL
            stamps = self._file_stamps()
            if stamps == self._stamps:
                return
            self._stamps = stamps
            try:
                self._load()
            except PkiError as exc:
                log.error("x509: keeping the previous CA and CRL: %s", exc)
                return
            log.info("x509: re-read %s%s", self.ca_path,
                     f" and {self.crl_path}" if self.crl_path else "")

    def describe(self) -> str:
        crl = f", CRL {self.crl_path}" if self.crl_path else ", no CRL"
        return f"CA {self.ca_path} ({len(self._cas)} certificates){crl}"

    def _chain(self, cert: x509.Certificate) -> Verified:
        if _is_ca(cert):
            raise CertificateError(f"{describe(cert)} is a CA certificate; messages are "
                                   "signed with a node's or a user's certificate")
        chain = [cert]
        current = cert
        while True:
            if current.issuer == current.subject and len(chain) > 1:
                break  # a self-signed CA of the bundle: the root
            issuer = next((ca for ca in self._cas if _signed_by(current, ca)), None)
            if issuer is None:
                if len(chain) > 1:
                    break  # a CA of the bundle whose own issuer the bundle lacks
                raise CertificateError(
                    f"{describe(cert)} is not issued by a CA of {self.ca_path} (its "
                    f"issuer is {cert.issuer.rfc4514_string() or 'unnamed'})")
            if issuer in chain:
                break
            chain.append(issuer)
            current = issuer
            if len(chain) > MAX_CHAIN:
                raise CertificateError(f"{describe(cert)}: chain longer than {MAX_CHAIN}")
        return Verified(cert, tuple(chain),
                        max(c.not_valid_before_utc for c in chain),
                        min(c.not_valid_after_utc for c in chain))

    def verify(self, cert: x509.Certificate, now: float | None = None) -> Verified:
        """``cert``'s verified chain, if every certificate of it is currently valid and
        none is revoked; CertificateError saying why not."""
        return self._verify(cert.public_bytes(serialization.Encoding.DER), lambda: cert, now)

    def verify_encoded(self, text: str, now: float | None = None) -> Verified:
        """Like :meth:`verify` for a certificate as it travels (:func:`encode_certificate`):
        a certificate seen before is found by its text, without decoding it again.
        ValueError (not CertificateError) when ``text`` is not a certificate."""
        return self._verify(text, lambda: decode_certificate(text), now)

    def _verify(self, key: bytes | str, load: Callable[[], x509.Certificate],
                now: float | None) -> Verified:
        self.refresh()
        with self._lock:
            verified = self._cache.get(key)
            if verified is not None:
                self._cache.move_to_end(key)
        if verified is None:
            verified = self._chain(load())
            with self._lock:
                self._cache[key] = verified
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        revoked = self._revoked
        moment = time.time() if now is None else now
        if moment + self.clock_skew < verified.not_before_ts:
            which = _limiting(verified.chain, before=True)
            raise CertificateError(f"{describe(which)} is not valid before "
                                   f"{_utc(which.not_valid_before_utc)}")
        if moment - self.clock_skew > verified.not_after_ts:
            which = _limiting(verified.chain, before=False)
            raise CertificateError(f"{describe(which)} expired at "
                                   f"{_utc(which.not_valid_after_utc)}")
        for child, parent in verified.links:
            if child.serial_number in revoked.get(parent.subject, ()):
                raise CertificateError(f"{describe(child)} (serial {child.serial_number}) "
                                       f"is revoked by {describe(parent)}")
        return verified

    def cas_without_crl(self) -> list[x509.Certificate]:
        return [ca for ca in self._cas if ca.subject not in self._revoked]


def _limiting(chain: Iterable[x509.Certificate], *, before: bool) -> x509.Certificate:
    if before:
        return max(chain, key=lambda c: c.not_valid_before_utc)
    return min(chain, key=lambda c: c.not_valid_after_utc)

