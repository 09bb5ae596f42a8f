"""This process's own key and certificate, and the CA it trusts, found from the
configuration: a Puppet ``ssldir`` and a certname, or plain file paths, or both (a path
given explicitly wins over the ssldir's layout).

Everything is read and cross-checked when the provider is created, so a mistake stops a
client or a daemon at start-up with one :class:`ConfigError` naming the file and the
configuration key, instead of failing every message later.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography import x509

from mcollective.errors import ConfigError
from mcollective_security_x509 import pki
from mcollective_security_x509.settings import PLUGIN, X509Settings

if TYPE_CHECKING:
    from mcollective.config import Config

log = logging.getLogger(__name__)

Role = Literal["client", "server"]


@dataclass(frozen=True)
class Own:
    """The key and certificate this process signs with."""

    key: pki.PrivateKey
    cert: x509.Certificate
    certname: str
    cert_path: Path
    #: The certificate as it travels (base64 of its DER).
    wire: str


@dataclass(frozen=True)
class Credentials:
    own: Own
    authority: pki.Authority
    settings: X509Settings


def config_error(config: Config, key: str, message: str) -> ConfigError:
    """A ConfigError pointing at ``plugin.x509.<key>`` where it is set, else at the
    configuration file."""
    full = f"plugin.{PLUGIN}.{key}"
    where = config.source(full)
    return ConfigError(message, file=where.file if where else
                       (str(config.path) if config.path else None),
                       line=where.line if where else None, key=full)


@dataclass(frozen=True)
class Paths:
    """Each file and the key it comes from (for error messages)."""

    ca: tuple[Path, str]
    certificate: tuple[Path, str]
    private_key: tuple[Path, str]
    crl: tuple[Path, str] | None
    certname: str


def default_certname(config: Config, role: Role) -> str:
    """A node's certname is its identity (Puppet's default certname is the FQDN, as is
    mcollective's identity); a user's is their login name."""
    if role == "server":
        return str(config.identity)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(config.identity)


def find_paths(settings: X509Settings, config: Config, role: Role) -> Paths:
    certname = settings.certname or default_certname(config, role)
    ssldir = config.resolve_path(settings.ssldir) if settings.ssldir else None
    if ssldir is None and settings.ca is None:
        raise config_error(config, "ssldir", "is not set: give a Puppet ssldir "
                           "(plugin.x509.ssldir = /etc/puppet/ssl or the output of "
                           "'puppet config print ssldir'), or the files themselves with "
                           "plugin.x509.ca, .certificate and .private_key")
    if ssldir is not None and not ssldir.is_dir():
        raise config_error(config, "ssldir", f"{ssldir} is not a directory")

    def pick(key: str, layout: str | None) -> tuple[Path, str]:
        value = getattr(settings, key)
        if value is not None:
            return config.resolve_path(value), key
        if ssldir is None or layout is None:
            raise config_error(config, key, "is not set (and there is no "
                               "plugin.x509.ssldir to find it in)")
        return ssldir / layout, "ssldir"

    crl: tuple[Path, str] | None
    if settings.crl is not None:
        crl = (config.resolve_path(settings.crl), "crl")
    elif ssldir is not None and (ssldir / "crl.pem").exists():
        crl = (ssldir / "crl.pem", "ssldir")
    else:
        crl = None
    return Paths(ca=pick("ca", "certs/ca.pem"),
                 certificate=pick("certificate", f"certs/{certname}.pem"),
                 private_key=pick("private_key", f"private_keys/{certname}.pem"),
                 crl=crl, certname=certname)


def load_credentials(settings: X509Settings, config: Config, role: Role,
                     now: float | None = None) -> Credentials:
    paths = find_paths(settings, config, role)
    try:
        authority = pki.Authority(paths.ca[0], paths.crl[0] if paths.crl else None,
                                  clock_skew=settings.clock_skew)
    except pki.PkiError as exc:
        setting = paths.crl[1] if "CRL" in str(exc) and paths.crl is not None \
            else paths.ca[1]
        raise config_error(config, setting, str(exc)) from None
    if paths.crl is None:
        log.warning("x509: no CRL (plugin.x509.crl, or crl.pem in plugin.x509.ssldir): "
                    "revoked certificates are accepted until they expire")
    else:
        for ca in authority.cas_without_crl():
            log.warning("x509: %s has no revocation list in %s: certificates it issued "
                        "are not checked for revocation", pki.describe(ca), paths.crl[0])

    cert_path, cert_key = paths.certificate
    key_path, key_key = paths.private_key
    try:
        certs = pki.load_certificates(cert_path, "certificate")
        key = pki.load_private_key(key_path)
    except pki.PkiError as exc:
        which = key_key if "private key" in str(exc) else cert_key
        raise config_error(config, which, str(exc)) from None
    cert = certs[0]
    if not pki.same_key(key, cert):
        raise config_error(config, key_key, f"private key {key_path} does not match "
                           f"certificate {cert_path} (they are of different key pairs)")
    try:
        authority.verify(cert, now)
        name = pki.certname(cert, settings.name_from)
    except pki.CertificateError as exc:
        raise config_error(config, cert_key, f"certificate {cert_path}: {exc}") from None
    if role == "server":
        if name != config.identity:
            raise config_error(config, cert_key, (
                f"certificate {cert_path} is for {name!r} but this node's identity is "
                f"{config.identity!r}: clients only accept replies a node signs in its "
                f"own name; set identity = {name} or use this node's certificate"))
        if settings.clients is None:
            raise config_error(config, "clients", (
                "is not set: list the certificate names that may send requests, as "
                "patterns (plugin.x509.clients = admin, *.ops.example.net); other "
                "certificates of the CA can then only send this node's registration"))
        if not pki.matches(name, settings.nodes):
            raise config_error(config, "nodes", (
                f"does not match this node's certificate name {name!r}: clients would "
                "reject its replies"))
    own = Own(key=key, cert=cert, certname=name, cert_path=cert_path,
              wire=pki.encode_certificate(cert))
    return Credentials(own=own, authority=authority, settings=settings)
