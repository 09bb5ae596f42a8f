"""The plugin as daemons and clients load it: entry points, a Puppet ssldir or plain
paths, and one clear ConfigError for every mistake, naming the file and the key."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from x509_helpers import TestCA, key_pem, new_key, pem, request, write_identity

from mcollective.config import load_config
from mcollective.errors import ConfigError, SecurityError
from mcollective.plugins import installed_plugins, make_plugin_manager
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request
from mcollective.testing.security import sample_reply
from mcollective_security_x509.plugin import create_provider
from mcollective_security_x509.provider import X509Security


@pytest.fixture(scope="module")
def ca() -> TestCA:
    ca = TestCA("Site")
    for name in ("node1.example.net", "admin", "web1"):
        ca.issue(name)
    ca.issue("rsa-node", kind="rsa")
    ca.issue("ed-node", kind="ed25519")
    return ca


def _config(tmp_path: Path, role: str, text: str, identity: str = "node1.example.net"
            ) -> Path:
    cfg = tmp_path / f"{role}.cfg"
    cfg.write_text(f"identity = {identity}\nsecurityprovider = x509\n{text}")
    return cfg


def _load(cfg: Path, role: str = "server") -> X509Security:
    return create_provider(load_config(cfg, role=role), role)  # type: ignore[arg-type]


def _ssldir(ca: TestCA, tmp_path: Path, *names: str) -> Path:
    return ca.write_ssldir(tmp_path / "ssl", *names)


def _error(cfg: Path, role: str = "server") -> str:
    with pytest.raises(ConfigError) as info:
        _load(cfg, role)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_entry_point_is_installed() -> None:
    assert "x509" in {p.name for p in installed_plugins("security")}


def test_puppet_ssldir_layout(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net", "admin")
    server = _load(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                           "plugin.x509.clients = admin\n"))
    client = _load(_config(tmp_path, "client", "plugin.x509.ssldir = ssl\n"  # relative
                           "plugin.x509.certname = admin\n"), "client")
    assert client.caller_id() == "cert=admin"
    assert server.own.certname == "node1.example.net"
    assert server.authority.crl_path == ssl / "crl.pem"
    req = request(caller="cert=admin")
    assert decode_request(encode_request(req, client), server) == req
    rep = sample_reply(sender="node1.example.net")
    assert decode_reply(encode_reply(rep, server), client) == rep


def test_plugin_manager_creates_it(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    cfg = _config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                  "plugin.x509.clients = admin\n")
    provider = make_plugin_manager().create_security(load_config(cfg, role="server"), "server")
    assert isinstance(provider, X509Security)


@pytest.mark.parametrize("name", ["rsa-node", "ed-node"])
def test_plain_paths_and_key_types(ca: TestCA, tmp_path: Path, name: str) -> None:
    key, cert = ca.issued[name]
    cert_path, key_path = write_identity(tmp_path / "elsewhere", name, key, cert)
    ca_path, crl_path = ca.write_ca(tmp_path / "ca")
    server = _load(_config(tmp_path, "server", (
        f"plugin.x509.ca = {ca_path}\nplugin.x509.crl = {crl_path}\n"
        f"plugin.x509.certificate = {cert_path}\nplugin.x509.private_key = {key_path}\n"
        "plugin.x509.clients = *\n"), identity=name))
    rep = sample_reply(sender=name)
    assert decode_reply(encode_reply(rep, server), server) == rep


def test_name_from_a_subject_alternative_name(ca: TestCA, tmp_path: Path) -> None:
    from cryptography import x509

    key, cert = ca.issue("Alice Example", san=[x509.RFC822Name("alice@example.net")])
    ssl = _ssldir(ca, tmp_path)
    write_identity(ssl, "alice", key, cert)
    client = _load(_config(tmp_path, "client", (
        f"plugin.x509.ssldir = {ssl}\nplugin.x509.certname = alice\n"
        "plugin.x509.name_from = email\n")), "client")
    assert client.caller_id() == "cert=alice@example.net"
    message = _error(_config(tmp_path, "client2", (
        f"plugin.x509.ssldir = {ssl}\nplugin.x509.certname = alice\n")), "client")
    assert "'Alice Example' cannot be a caller id" in message


def test_certificate_reloads_of_the_crl(ca: TestCA, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A CRL refreshed on disk counts without a restart."""
    from mcollective_security_x509 import pki

    monkeypatch.setattr(pki, "RELOAD_INTERVAL", 0.0)
    local = TestCA("Reload")
    local.issue("node1.example.net")
    local.issue("admin")
    ssl = local.write_ssldir(tmp_path / "ssl", "node1.example.net", "admin")
    server = _load(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                           "plugin.x509.clients = admin\n"))
    client = _load(_config(tmp_path, "client", f"plugin.x509.ssldir = {ssl}\n"
                           "plugin.x509.certname = admin\n"), "client")
    data = encode_request(request(caller="cert=admin"), client)
    decode_request(data, server)
    local.revoke(local.issued["admin"][1])
    local.write_ca(ssl)
    with pytest.raises(SecurityError, match="is revoked by CN=Reload CA"):
        decode_request(data, server)
    # A broken CRL written later is logged and the last good one stays in force.
    (ssl / "crl.pem").write_text("garbage\n")
    with pytest.raises(SecurityError, match="is revoked"):
        decode_request(data, server)


# --- misconfigurations: one line naming the file and the key ----------------------------


def test_nothing_configured(tmp_path: Path) -> None:
    message = _error(_config(tmp_path, "server", ""))
    assert "plugin.x509.ssldir" in message and "is not set" in message


def test_missing_ssldir(tmp_path: Path) -> None:
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {tmp_path}/nope\n"
                             "plugin.x509.clients = admin\n"))
    assert f"{tmp_path}/nope is not a directory" in message


def test_missing_key(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    (ssl / "private_keys" / "node1.example.net.pem").unlink()
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"cannot read private key {ssl}/private_keys/node1.example.net.pem: No such " \
           "file" in message
    assert "plugin.x509.ssldir" in message


def test_missing_certificate_names_the_certname(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "admin")
    message = _error(_config(tmp_path, "client", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.certname = bob\n"), "client")
    assert f"cannot read certificate {ssl}/certs/bob.pem" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    (ssl / "private_keys" / "node1.example.net.pem").chmod(0)
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert "Permission denied" in message


def test_key_that_is_not_a_file(ca: TestCA, tmp_path: Path) -> None:
    """What root meets where others get "Permission denied": a path it cannot read as
    a key (a directory, a FIFO) is refused without hanging."""
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    key = ssl / "private_keys" / "node1.example.net.pem"
    key.unlink()
    os.mkfifo(key)
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"private key {key} is not a regular file" in message


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660])
def test_key_readable_by_others_is_refused(ca: TestCA, tmp_path: Path, mode: int) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    key = ssl / "private_keys" / "node1.example.net.pem"
    key.chmod(mode)
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"private key {key} has mode {mode:04o}" in message
    assert f"chmod 600 {key}" in message


def test_group_readable_key_is_a_warning(ca: TestCA, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    (ssl / "private_keys" / "node1.example.net.pem").chmod(0o640)  # as Puppet writes them
    with caplog.at_level(logging.WARNING):
        _load(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                      "plugin.x509.clients = admin\n"))
    assert "readable by its group" in caplog.text


def test_key_not_matching_the_certificate(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    key = ssl / "private_keys" / "node1.example.net.pem"
    key.write_bytes(key_pem(new_key()))
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"private key {key} does not match certificate " \
           f"{ssl}/certs/node1.example.net.pem" in message


def test_certificate_given_as_the_key(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    key = ssl / "private_keys" / "node1.example.net.pem"
    key.write_bytes(pem(ca.issued["node1.example.net"][1]))
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"private key {key} is not a PEM private key (it holds a certificate)" in message


def test_expired_certificate(ca: TestCA, tmp_path: Path) -> None:
    key, cert = ca.issue("late", valid_from=time.time() - 40 * 86400, days=30)
    ssl = _ssldir(ca, tmp_path)
    cert_path, _ = write_identity(ssl, "late", key, cert)
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n", identity="late"))
    assert f"certificate {cert_path}: CN=late expired at" in message


def test_not_yet_valid_certificate(ca: TestCA, tmp_path: Path) -> None:
    key, cert = ca.issue("early", valid_from=time.time() + 86400)
    ssl = _ssldir(ca, tmp_path)
    write_identity(ssl, "early", key, cert)
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n", identity="early"))
    assert "CN=early is not valid before" in message


def test_certificate_of_another_ca(ca: TestCA, tmp_path: Path) -> None:
    other = TestCA("Other")
    key, cert = other.issue("node1.example.net")
    ssl = _ssldir(ca, tmp_path)
    cert_path, _ = write_identity(ssl, "node1.example.net", key, cert)
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"certificate {cert_path}: CN=node1.example.net is not issued by a CA of " \
           f"{ssl}/certs/ca.pem (its issuer is CN=Other CA)" in message


def test_revoked_own_certificate(tmp_path: Path) -> None:
    local = TestCA("Local")
    local.issue("node1.example.net")
    local.revoke(local.issued["node1.example.net"][1])
    ssl = local.write_ssldir(tmp_path / "ssl", "node1.example.net")
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert "is revoked by CN=Local CA" in message


def test_identity_must_be_the_certname(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "web1")
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\nplugin.x509.certname = web1\n"))
    assert "is for 'web1' but this node's identity is 'node1.example.net'" in message


def test_servers_need_a_client_list(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"))
    assert "plugin.x509.clients" in message and "is not set" in message


@pytest.mark.parametrize(("line", "expected"), [
    ("plugin.x509.clients = admin, bad/name", "is not a certificate name pattern"),
    ("plugin.x509.name_from = subject", "expected one of cn, dns, email, uri"),
    ("plugin.x509.certname = a b", "may only have letters"),
    ("plugin.x509.clock_skew = -1", "plugin.x509.clock_skew"),
])
def test_bad_values(ca: TestCA, tmp_path: Path, line: str, expected: str) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    cfg = _config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n{line}\n")
    message = _error(cfg)
    assert expected in message and f"{cfg}:" in message


def test_unknown_keys_are_named_in_a_warning(ca: TestCA, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    # Core's rule for plugin keys: a key for another version (the Ruby ssl plugin's
    # cafile) is warned about and ignored; the CA still comes from the ssldir.
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    cfg = _config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                  "plugin.x509.clients = admin\nplugin.x509.cafile = x\n")
    with caplog.at_level(logging.WARNING, logger="mcollective.config"):
        assert isinstance(_load(cfg), X509Security)
    assert f"{cfg}:5: ignoring unknown key 'plugin.x509.cafile' for plugin 'x509'" in \
        caplog.text


def test_ca_bundle_that_is_not_a_ca(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    (ssl / "certs" / "ca.pem").write_bytes(pem(ca.issued["admin"][1]))
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"CA bundle {ssl}/certs/ca.pem: CN=admin is not a CA certificate" in message


def test_empty_ca_bundle_and_bad_crl(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    (ssl / "crl.pem").write_text("not a crl\n")
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"CRL {ssl}/crl.pem holds no PEM revocation list" in message
    (ssl / "crl.pem").write_bytes(b"".join(
        c.public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                  fromlist=["Encoding"]).Encoding.PEM)
        for c in TestCA("Other").crls()))
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert "is not signed by a CA of" in message
    (ssl / "certs" / "ca.pem").write_text("")
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             "plugin.x509.clients = admin\n"))
    assert f"CA bundle {ssl}/certs/ca.pem holds no PEM certificate" in message


def test_explicit_crl_must_exist(ca: TestCA, tmp_path: Path) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    message = _error(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                             f"plugin.x509.crl = {tmp_path}/none.pem\n"
                             "plugin.x509.clients = admin\n"))
    assert f"cannot read CRL {tmp_path}/none.pem" in message and "plugin.x509.crl" in message


def test_no_crl_is_a_warning(ca: TestCA, tmp_path: Path,
                             caplog: pytest.LogCaptureFixture) -> None:
    ssl = _ssldir(ca, tmp_path, "node1.example.net")
    (ssl / "crl.pem").unlink()
    with caplog.at_level(logging.WARNING):
        _load(_config(tmp_path, "server", f"plugin.x509.ssldir = {ssl}\n"
                      "plugin.x509.clients = admin\n"))
    assert "revoked certificates are accepted" in caplog.text
