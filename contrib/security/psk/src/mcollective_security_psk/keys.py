"""Where the shared secret comes from, and how a generated one is kept.

Order: ``plugin.psk`` in the configuration, else the ``MCOLLECTIVE_PSK`` environment
variable, else a key file: ``plugin.psk.keyfile`` when configured (it must exist), or
``<statedir>/psk.key``, generated on first use so that a fresh single-machine install
works without any setup. The secret is the UTF-8 text of the key with surrounding
whitespace removed, wherever it comes from, so a generated key file can be copied into
``plugin.psk`` on another machine and means the same key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mcollective.errors import ConfigError

if TYPE_CHECKING:
    from mcollective.config import Config
    from mcollective_security_psk.settings import PskSettings

log = logging.getLogger(__name__)

ENV_VAR = "MCOLLECTIVE_PSK"
KEY_FILE_NAME = "psk.key"
#: 256 random bits, written as 64 hex characters.
GENERATED_KEY_BYTES = 32

_KEY_ID_CONTEXT = b"mcollective-psk key id\x00"


def key_id_of(secret: bytes) -> str:
    """A short public fingerprint of ``secret``.

    It travels with every message so that a mismatch can be reported as "signed with a
    different key" instead of "tampered with". It reveals nothing an HMAC signature over
    a known message does not already reveal.
    """
    return hashlib.sha256(_KEY_ID_CONTEXT + secret).hexdigest()[:16]


@dataclass(frozen=True)
class SharedKey:
    """The secret and a description of where it came from (for messages, never the
    secret itself)."""

    secret: bytes = field(repr=False)
    source: str
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", key_id_of(self.secret))


def load_key(settings: PskSettings, config: Config,
             environ: Mapping[str, str] | None = None) -> SharedKey:
    """The shared key for this process; ConfigError says what is wrong and where."""
    # The environment wins over the file, as in MCollective's psk plugin and as every
    # MCOLLECTIVE_* override does.
    env = (config.environ if environ is None else environ).get(ENV_VAR)
    if env is not None:
        if not env.strip():
            raise ConfigError("the environment variable is set but empty", key=ENV_VAR)
        return SharedKey(env.strip().encode("utf-8"), f"environment {ENV_VAR}")
    if settings.secret is not None:
        where = config.source("plugin.psk")
        origin = f" ({where.file}:{where.line})" if where and where.line else ""
        return SharedKey(settings.secret.encode("utf-8"), f"plugin.psk{origin}")
    if settings.keyfile is not None:
        where = config.source("plugin.psk.keyfile")
        if not settings.keyfile.exists():
            raise ConfigError(f"key file {settings.keyfile} does not exist",
                              file=where.file if where else None,
                              line=where.line if where else None, key="plugin.psk.keyfile")
        return SharedKey(read_key_file(settings.keyfile), f"key file {settings.keyfile}")
    path = config.statedir / KEY_FILE_NAME
    if path.exists():
        return SharedKey(read_key_file(path), f"key file {path}")
    return SharedKey(create_key_file(path), f"key file {path}")


def _check_mode(path: Path, mode: int) -> None:
    """Refuse key files others can read or anyone but the owner can change.

    Group read access is allowed, with a warning: sharing one key file through a group
    is how several users on a machine can all use the collective's key.
    """
    if os.name == "nt":  # mode bits mean little there; ACLs protect the file
        return
    perms = stat.S_IMODE(mode)
    if perms & (stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP):
        raise ConfigError(
            f"key file has mode {perms:04o}: it must not be accessible by others nor "
            f"writable by its group; run 'chmod 600 {path}'", file=str(path))
    if perms & stat.S_IRGRP:
        log.warning("pre-shared key file %s is readable by its group (mode %04o): every "
                    "member can sign requests as any caller", path, perms)


def read_key_file(path: Path) -> bytes:
    """The secret in ``path``, after checking its permissions."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the process.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigError(f"cannot read key file: {exc.strerror}", file=str(path)) from None
    try:
        # fstat on the open file: the mode checked is the mode of the file read.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError("key file is not a regular file", file=str(path))
        _check_mode(path, mode)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read key file: {exc.strerror}", file=str(path)) from None
    finally:
        os.close(fd)
    try:
        text = b"".join(chunks).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError("key file is not UTF-8 text", file=str(path)) from None
    if not text:
        raise ConfigError("key file is empty", file=str(path))
    return text.encode("utf-8")


def _write_new(path: Path, content: bytes) -> None:
    """Create ``path`` with mode 0600 and ``content``; FileExistsError if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def create_key_file(path: Path) -> bytes:
    """Generate a key into ``path`` unless it exists, and return the key in force.

    The key is written to a private temporary file and hard-linked into place, so that
    no process ever reads a half-written key and an existing key is never replaced: when
    two processes race, the first link wins and both use its key.
    """
    secret = secrets.token_hex(GENERATED_KEY_BYTES).encode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_new(tmp, secret + b"\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            log.debug("key file %s appeared meanwhile; using it", path)
            return read_key_file(path)
        except OSError:
            # Filesystems without hard links: exclusive create still never overwrites.
            try:
                _write_new(path, secret + b"\n")
            except FileExistsError:
                return read_key_file(path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the pre-shared key file: {exc.strerror or exc}; "
                          "set plugin.psk or plugin.psk.keyfile", file=str(path)) from None
    log.warning("generated a new pre-shared key in %s: every client and server of the "
                "collective needs this same key (copy the file, or set plugin.psk)", path)
    return secret
