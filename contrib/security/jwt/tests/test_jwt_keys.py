"""Key files: what keygen writes, what the plugin accepts, and what it refuses."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt_helpers import ALICE

from mcollective_security_jwt import keys

posix = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix
def test_key_pair_files(tmp_path: Path) -> None:
    old = os.umask(0)  # the modes must not depend on the umask
    try:
        pub = keys.write_key_pair(tmp_path / "alice.key", ALICE)
    finally:
        os.umask(old)
    assert pub == tmp_path / "alice.key.pub"
    assert _mode(tmp_path / "alice.key") == 0o600
    assert _mode(pub) == 0o644
    assert pub.read_text() == keys.public_hex(ALICE) + "\n"
    assert (tmp_path / "alice.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = keys.load_private_key(tmp_path / "alice.key")
    assert keys.public_hex(loaded) == keys.public_hex(ALICE)
    assert keys.public_hex(keys.load_public_key(str(pub))) == keys.public_hex(ALICE)


def test_existing_keys_are_not_overwritten(tmp_path: Path) -> None:
    keys.write_key_pair(tmp_path / "k", ALICE)
    with pytest.raises(keys.KeyFileError, match="--force"):
        keys.write_key_pair(tmp_path / "k", keys.generate())
    other = keys.generate()
    keys.write_key_pair(tmp_path / "k", other, force=True)
    assert keys.public_hex(keys.load_private_key(tmp_path / "k")) == keys.public_hex(other)


def test_existing_public_key_file_blocks_keygen(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("something\n")
    with pytest.raises(keys.KeyFileError, match=r"k\.pub exists"):
        keys.write_key_pair(tmp_path / "k", ALICE)
    assert not (tmp_path / "k").exists()


def test_openssl_style_pem_and_hex_seeds_are_accepted(tmp_path: Path) -> None:
    seed = ALICE.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                               serialization.NoEncryption())
    for name, content in {"seed": seed.hex().encode() + b"\n",
                          "pem": keys.private_pem(ALICE)}.items():
        path = tmp_path / name
        path.write_bytes(content)
        path.chmod(0o600)
        assert keys.public_hex(keys.load_private_key(path)) == keys.public_hex(ALICE)


def test_public_keys_as_hex_pem_or_file(tmp_path: Path) -> None:
    hexkey = keys.public_hex(ALICE)
    pem = ALICE.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "a.pem").write_bytes(pem)
    (tmp_path / "a.hex").write_text(hexkey.upper() + "\n")
    for spec in (hexkey, hexkey.upper(), f"  {hexkey} ", str(tmp_path / "a.pem"),
                 str(tmp_path / "a.hex")):
        assert keys.public_hex(keys.load_public_key(spec)) == hexkey


def test_relative_public_key_paths_use_the_resolver(tmp_path: Path) -> None:
    (tmp_path / "issuer.pub").write_text(keys.public_hex(ALICE))
    key = keys.load_public_key("issuer.pub", lambda p: tmp_path / p)
    assert keys.public_hex(key) == keys.public_hex(ALICE)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not an ed25519 public key"),
    (b"abcd", "not an ed25519 public key"),
    (b"\xff\xfe", "not a key file"),
    (b"-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n",
     "not an ed25519 public key"),
])
def test_bad_public_key_files(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "k").write_bytes(content)
    with pytest.raises(keys.KeyFileError, match=message):
        keys.load_public_key(str(tmp_path / "k"))


def test_private_key_where_a_public_one_belongs_is_refused(tmp_path: Path) -> None:
    keys.write_key_pair(tmp_path / "k", ALICE)
    with pytest.raises(keys.KeyFileError, match="holds a private key"):
        keys.load_public_key(str(tmp_path / "k"))
    # ...except where a private key's public half is explicitly welcome.
    assert keys.public_hex(keys.public_key_of(str(tmp_path / "k"))) == keys.public_hex(ALICE)


def test_missing_public_key() -> None:
    with pytest.raises(keys.KeyFileError, match="neither a public key"):
        keys.load_public_key("/nonexistent/issuer.pub")


@posix
@pytest.mark.parametrize(("content", "message"), [
    (b"", "not an ed25519 private key"),
    (b"zz" * 32, "not an ed25519 private key"),
    (b"-----BEGIN PUBLIC KEY-----\n", "holds a public key"),
])
def test_bad_private_key_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "k"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(keys.KeyFileError, match=message):
        keys.load_private_key(path)


@posix
def test_encrypted_and_non_ed25519_private_keys(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    encrypted = ALICE.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"))
    (tmp_path / "enc").write_bytes(encrypted)
    (tmp_path / "enc").chmod(0o600)
    with pytest.raises(keys.KeyFileError, match="encrypted"):
        keys.load_private_key(tmp_path / "enc")
    ecdsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (tmp_path / "ec").write_bytes(ecdsa)
    (tmp_path / "ec").chmod(0o600)
    with pytest.raises(keys.KeyFileError, match="not an ed25519 private key"):
        keys.load_private_key(tmp_path / "ec")


@posix
@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o666, 0o620])
def test_private_keys_others_can_reach_are_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    path.write_bytes(keys.private_pem(ALICE))
    path.chmod(mode)
    with pytest.raises(keys.KeyFileError, match=f"mode {mode:04o}.*chmod 600"):
        keys.load_private_key(path)


@posix
def test_group_readable_private_key_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                          ) -> None:
    path = tmp_path / "k"
    path.write_bytes(keys.private_pem(ALICE))
    path.chmod(0o640)
    assert isinstance(keys.load_private_key(path), Ed25519PrivateKey)
    assert "readable by its group" in caplog.text


@posix
def test_non_regular_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(keys.KeyFileError, match="not a regular file"):
        keys.load_private_key(fifo)
    with pytest.raises(keys.KeyFileError, match="not a regular file"):
        keys.load_private_key(tmp_path)


def test_huge_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"a" * (keys.MAX_KEY_FILE + 1))
    with pytest.raises(keys.KeyFileError, match="too large"):
        keys.read_file(path)
