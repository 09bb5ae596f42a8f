"""The plugin as daemons and clients load it: entry points, configuration files, and a
clear ConfigError for every mistake, naming the key and saying what to do."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from jwt_helpers import (
    ALICE,
    BOB,
    ISSUER,
    NODE1,
    OTHER_ISSUER,
    client_token,
    reply,
    request,
    server_token,
    write_identity,
    write_issuer,
)

from mcollective.config import load_config
from mcollective.errors import ConfigError
from mcollective.plugins import installed_plugins, make_plugin_manager
from mcollective.security import decode_reply, decode_request, encode_reply, encode_request
from mcollective_security_jwt import keys
from mcollective_security_jwt.credentials import OwnToken
from mcollective_security_jwt.plugin import create_provider
from mcollective_security_jwt.provider import JwtSecurity
from mcollective_security_jwt.tokens import Issuers


def _setup(tmp_path: Path, role: str = "client", *, token: str | None = None,
           key: Any = None, extra: str = "", identity: str = "node1",
           skip: tuple[str, ...] = ()) -> Path:
    """A configuration directory as the README describes it; returns the config file."""
    etc = tmp_path / "etc"
    pub = write_issuer(tmp_path / "issuer")
    name = "alice" if role == "client" else identity
    key = key or (ALICE if role == "client" else NODE1)
    token = token or (client_token() if role == "client" else server_token())
    write_identity(etc, name, key, token)
    settings = {
        "identity": identity,
        "securityprovider": "jwt",
        "plugin.jwt.issuer_public_key": str(pub),
        "plugin.jwt.private_key": f"{name}.key",  # relative to the config file
        "plugin.jwt.token": f"{name}.token",
    }
    text = "".join(f"{k} = {v}\n" for k, v in settings.items() if k not in skip) + extra
    cfg = etc / f"{role}.cfg"
    cfg.write_text(text)
    return cfg


def _load(cfg: Path, role: str = "client") -> JwtSecurity:
    config = load_config(cfg, role=role)
    security = make_plugin_manager().create_security(config, role)
    assert isinstance(security, JwtSecurity)
    return security


def _error(cfg: Path, role: str = "client") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _load(cfg, role)
    return info.value


# --- entry points ---------------------------------------------------------------------


def test_entry_points_are_installed() -> None:
    [security] = [p for p in installed_plugins("security") if p.name == "jwt"]
    assert security.distribution == "mcollective-security-jwt"
    assert security.target == "mcollective_security_jwt.plugin"
    [app] = [p for p in installed_plugins("application") if p.name == "security"]
    assert app.distribution == "mcollective-security-jwt"


def test_client_and_server_from_real_config_files_interoperate(tmp_path: Path) -> None:
    client = _load(_setup(tmp_path / "c", "client"))
    server = _load(_setup(tmp_path / "s", "server"), "server")
    assert client.caller_id() == "jwt=alice"
    req = request(caller=client.caller_id())
    assert decode_request(encode_request(req, client), server) == req
    assert decode_reply(encode_reply(reply(), server), client).sender == "node1"


def test_settings_reach_the_provider(tmp_path: Path) -> None:
    security = _load(_setup(tmp_path, extra="plugin.jwt.sign_replies = no\n"
                                            "plugin.jwt.clock_skew = 5\n"))
    assert security.sign_replies is False and security.clock_skew == 5.0
    defaults = _load(_setup(tmp_path / "d"))
    assert defaults.sign_replies is True and defaults.clock_skew == 30.0


def test_clock_skew_defaults_to_the_core_setting(tmp_path: Path) -> None:
    config = load_config(_setup(tmp_path, extra="clock_skew = 7\n"))
    if not hasattr(config, "clock_skew"):
        pytest.skip("this core has no clock_skew key")
    assert create_provider(config, "client").clock_skew == 7.0


def test_issuer_keys_inline_and_several(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, token=client_token(issuer=OTHER_ISSUER),
                 skip=("plugin.jwt.issuer_public_key",),
                 extra=f"plugin.jwt.issuer_public_key = {keys.public_hex(ISSUER)}, "
                       f"{keys.public_hex(OTHER_ISSUER)}\n")
    assert _load(cfg).caller_id() == "jwt=alice"


# --- configuration errors -------------------------------------------------------------


@pytest.mark.parametrize(("key", "advice"), [
    ("plugin.jwt.issuer_public_key", "issuer's public key"),
    ("plugin.jwt.private_key", "mco security keygen"),
    ("plugin.jwt.token", "mco security issue client"),
])
def test_missing_keys_say_what_to_do(tmp_path: Path, key: str, advice: str) -> None:
    error = _error(_setup(tmp_path, skip=(key,)))
    assert error.key == key
    assert "is not set" in str(error) and advice in str(error)


def test_missing_server_token_names_the_server_command(tmp_path: Path) -> None:
    error = _error(_setup(tmp_path, "server", skip=("plugin.jwt.token",)), "server")
    assert "mco security issue server" in str(error)


@pytest.mark.parametrize(("line", "key"), [
    ("plugin.jwt.sign_replies = sometimes", "plugin.jwt.sign_replies"),
    ("plugin.jwt.clock_skew = -1", "plugin.jwt.clock_skew"),
    ("plugin.jwt.clock_skew = soon", "plugin.jwt.clock_skew"),
    ("plugin.jwt.issuer_public_key = ,", "plugin.jwt.issuer_public_key"),
])
def test_bad_values_name_file_line_and_key(tmp_path: Path, line: str, key: str) -> None:
    cfg = _setup(tmp_path, extra=line + "\n")
    error = _error(cfg)
    assert error.key == key
    assert error.file == str(cfg) and error.line == 6


def test_expired_own_token(tmp_path: Path) -> None:
    error = _error(_setup(tmp_path, token=client_token(now=time.time() - 7200)))
    assert error.key == "plugin.jwt.token"
    assert "expired at" in str(error) and "mco security issue client" in str(error)


def test_own_token_not_yet_valid(tmp_path: Path) -> None:
    error = _error(_setup(tmp_path, token=client_token(now=time.time() + 3600)))
    assert "not valid before" in str(error)


def test_token_for_another_key(tmp_path: Path) -> None:
    error = _error(_setup(tmp_path, token=client_token(BOB)))
    assert error.key == "plugin.jwt.token"
    assert keys.public_hex(BOB)[:16] in str(error)
    assert "issue a token for this key" in str(error)


def test_server_token_on_a_client_and_the_reverse(tmp_path: Path) -> None:
    error = _error(_setup(tmp_path / "c", token=server_token(ALICE)))
    assert "a client needs a client token" in str(error)
    error = _error(_setup(tmp_path / "s", "server", token=client_token(NODE1)), "server")
    assert "a server needs a server token" in str(error)


def test_token_from_another_issuer(tmp_path: Path) -> None:
    error = _error(_setup(tmp_path, token=client_token(issuer=OTHER_ISSUER)))
    assert "not a trusted issuer" in str(error)


def test_server_token_for_another_identity(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, "server", identity="node2", key=NODE1, token=server_token())
    error = _error(cfg, "server")
    assert "--identity node2" in str(error)


def test_server_token_must_list_every_collective(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, "server", extra="collectives = mcollective,eu\n")
    error = _error(cfg, "server")
    assert "collective(s) eu" in str(error) and "--collectives mcollective,eu" in str(error)


def test_unreadable_or_malformed_token_file(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    token = cfg.parent / "alice.token"
    token.write_text("not a token\n")
    assert "not a JWT" in str(_error(cfg))
    token.unlink()
    error = _error(cfg)
    assert error.key == "plugin.jwt.token" and "cannot read" in str(error)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_private_key_readable_by_others(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    (cfg.parent / "alice.key").chmod(0o644)
    error = _error(cfg)
    assert error.key == "plugin.jwt.private_key" and "chmod 600" in str(error)


def test_private_key_given_as_issuer_key(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, skip=("plugin.jwt.issuer_public_key",),
                 extra=f"plugin.jwt.issuer_public_key = {tmp_path / 'issuer' / 'issuer.key'}\n")
    error = _error(cfg)
    assert error.key == "plugin.jwt.issuer_public_key"
    assert "holds a private key" in str(error)


# --- renewing the token ---------------------------------------------------------------


def test_renewed_token_file_is_picked_up(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                         ) -> None:
    cfg = _setup(tmp_path)
    config = load_config(cfg, role="client")
    security = create_provider(config, "client")
    clock = [0.0]
    own: OwnToken = security._credentials.token
    own._monotonic = lambda: clock[0]
    own._next = 0.0
    first = security.token
    path = cfg.parent / "alice.token"

    renewed = client_token(agents=("*",))
    path.write_text(renewed + "\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    clock[0] = 10.0
    assert security.token.raw == renewed != first.raw

    # A renewal that does not pass the start-up checks is refused and logged.
    path.write_text(client_token(BOB) + "\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    clock[0] = 20.0
    with caplog.at_level(logging.ERROR):
        assert security.token.raw == renewed
    assert "cannot be used" in caplog.text

    # Between checks the file is not looked at.
    path.write_text(client_token() + "\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 3 * 10**9))
    clock[0] = 21.0
    assert security.token.raw == renewed


def test_provider_without_token_file_never_reloads() -> None:
    from mcollective_security_jwt import tokens

    own = OwnToken(tokens.parse(client_token()))
    assert own.get() is own.get()
    assert Issuers([ISSUER.public_key()]).names == ["I-" + keys.public_hex(ISSUER)]


def test_a_misspelt_key_is_named_in_a_warning(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    # Unknown plugin keys warn (core's rule); a misspelt required key is then "not set".
    cfg = _setup(tmp_path, skip=("plugin.jwt.token",), extra="plugin.jwt.tokn = x\n")
    with caplog.at_level("WARNING", logger="mcollective.config"):
        error = _error(cfg)
    assert error.key == "plugin.jwt.token" and "is not set" in str(error)
    assert "ignoring unknown key 'plugin.jwt.tokn' for plugin 'jwt' (did you mean " \
        "'plugin.jwt.token'?)" in caplog.text
