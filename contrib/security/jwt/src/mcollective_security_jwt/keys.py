"""Ed25519 key material: the files ``mco security keygen`` writes and the plugin reads.

Private keys are written as unencrypted PKCS#8 PEM (what ``openssl genpkey -algorithm
ed25519`` writes, so either tool can make them); a 64-hex-character seed, the form
Choria keeps in ``.seed`` files, is accepted too. Public keys travel as 64 lowercase hex
characters: in token claims, in configuration and in ``.pub`` files. Problems raise
:class:`KeyFileError` (a ValueError) whose message says what to do; callers add the
configuration key or command-line option it came from.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)

HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
#: Key files are a few hundred bytes; anything much larger is not a key file.
MAX_KEY_FILE = 64 * 1024


class KeyFileError(ValueError):
    """A key could not be read or written; the message names the file and the fix."""


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The 64 lowercase hex characters of a public key (of a private key's public half)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw).hex()


def public_from_hex(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if not HEX_KEY.fullmatch(text):
        raise KeyFileError(f"{text[:80]!r} is not an ed25519 public key "
                           "(expected 64 hex characters)")
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# --- reading ------------------------------------------------------------------------


def _check_private_mode(path: Path, mode: int) -> None:
    """Refuse private keys others can read or anyone but the owner can change.

    Group read access is allowed with a warning, as for psk key files: a group is how
    several accounts on one machine share one identity.
    """
    if os.name == "nt":  # ACLs, not mode bits, protect files there
        return
    perms = stat.S_IMODE(mode)
    if perms & (stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP):
        raise KeyFileError(f"private key {path} has mode {perms:04o}: it must not be "
                           f"accessible by others nor writable by its group; run "
                           f"'chmod 600 {path}'")
    if perms & stat.S_IRGRP:
        log.warning("private key %s is readable by its group (mode %04o): every member "
                    "can act as its owner", path, perms)


def read_file(path: Path, *, private: bool = False) -> bytes:
    """The bytes of a small regular file; for private keys, after a permission check."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the process.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode  # the mode of the file actually read
        if not stat.S_ISREG(mode):
            raise KeyFileError(f"{path} is not a regular file")
        if private:
            _check_private_mode(path, mode)
        data = os.read(fd, MAX_KEY_FILE + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path} is too large to be a key or token file")
    return data


def parse_private_key(data: bytes, where: str) -> Ed25519PrivateKey:
    """A private key from PEM (PKCS#8) or a 64-hex-character seed."""
    text = data.strip()
    if HEX_KEY.fullmatch(text.decode("ascii", "replace")):
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.decode("ascii")))
    if b"PUBLIC KEY" in text:
        raise KeyFileError(f"{where} holds a public key; a private key is needed here "
                           "(the file 'mco security keygen --out FILE' wrote as FILE)")
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except TypeError:
        raise KeyFileError(f"{where} is encrypted; give an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{where} is not an ed25519 private key (expected PEM or 64 "
                           "hex characters; make one with 'mco security keygen')") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{where} is a {type(key).__name__.removeprefix('_')}, not an "
                           "ed25519 private key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    return parse_private_key(read_file(path, private=True), str(path))


def parse_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    """A public key from 64 hex characters or PEM (SubjectPublicKeyInfo)."""
    text = data.strip()
    if b"PRIVATE KEY" in text:
        raise KeyFileError(f"{where} holds a private key; give the public key instead "
                           "(the FILE.pub written by 'mco security keygen'): private keys "
                           "must stay with their owner")
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"{where} is not a key file") from None
    if HEX_KEY.fullmatch(decoded):
        return public_from_hex(decoded)
    try:
        key = serialization.load_pem_public_key(text)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{where} is not an ed25519 public key (expected 64 hex "
                           "characters or PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{where} is not an ed25519 public key")
    return key


def load_public_key(spec: str, resolve: Callable[[str], Path] = Path) -> Ed25519PublicKey:
    """A public key given inline as hex, or as the path of a file holding one."""
    spec = spec.strip()
    if HEX_KEY.fullmatch(spec):
        return public_from_hex(spec)
    path = resolve(spec)
    if not path.exists():
        raise KeyFileError(f"{spec!r} is neither a public key (64 hex characters) nor "
                           f"an existing file ({path})")
    return parse_public_key(read_file(path), str(path))


def public_key_of(spec: str, resolve: Callable[[str], Path] = Path) -> Ed25519PublicKey:
    """Like :func:`load_public_key`, but a private key file gives its public half: handy
    when one operator makes every key of a test collective."""
    spec = spec.strip()
    if not HEX_KEY.fullmatch(spec):
        path = resolve(spec)
        if path.is_file():
            data = read_file(path)
            if b"PRIVATE KEY" in data:
                return parse_private_key(data, str(path)).public_key()
    return load_public_key(spec, resolve)


# --- writing ------------------------------------------------------------------------


def write_new(path: Path, content: bytes, mode: int, *, force: bool = False) -> None:
    """Create ``path`` with ``mode`` whatever the umask; an existing file is an error
    unless ``force``, so a key is never overwritten by accident."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; remove it or pass --force to replace it"
                           ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot write {path}: {exc.strerror}") from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key_pair(path: Path, key: Ed25519PrivateKey, *, force: bool = False) -> Path:
    """Write the private key to ``path`` (0600) and its public hex to ``path.pub``
    (0644); returns the public key's path."""
    pub = path.with_name(path.name + ".pub")
    if not force:
        for p in (path, pub):
            if p.exists():
                raise KeyFileError(f"{p} exists; remove it or pass --force to replace it")
    write_new(path, private_pem(key), 0o600, force=force)
    write_new(pub, (public_hex(key) + "\n").encode("ascii"), 0o644, force=True)
    return pub
