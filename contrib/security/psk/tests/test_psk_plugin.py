"""The plugin loads through its real entry point, as the daemon and clients load it."""

from __future__ import annotations

from pathlib import Path

import pytest
from psk_helpers import request

from mcollective.config import config_from_text, load_config
from mcollective.errors import ConfigError
from mcollective.plugins import installed_plugins, make_plugin_manager
from mcollective.security import decode_request, encode_request
from mcollective_security_psk.provider import PskSecurity


def test_entry_point_is_installed() -> None:
    found = [p for p in installed_plugins("security") if p.name == "psk"]
    assert len(found) == 1
    assert found[0].distribution == "mcollective-security-psk"
    assert found[0].target == "mcollective_security_psk.plugin"


@pytest.mark.parametrize("role", ["client", "server"])
def test_created_through_the_plugin_manager(role: str) -> None:
    config = config_from_text("securityprovider = psk\nplugin.psk = via entry point\n",
                              role=role)  # type: ignore[arg-type]
    security = make_plugin_manager().create_security(config, role)  # type: ignore[arg-type]
    assert isinstance(security, PskSecurity)
    assert security.name == "psk"


def test_client_and_server_from_real_config_files_interoperate(tmp_path: Path) -> None:
    for name in ("server.cfg", "client.cfg"):
        (tmp_path / name).write_text("identity = box\nplugin.psk = files\n"
                                     "plugin.psk.callertype = uid\n")
        (tmp_path / name).chmod(0o600)  # holds the key
    manager = make_plugin_manager()
    server = manager.create_security(load_config(tmp_path / "server.cfg", role="server"),
                                     "server")
    client = make_plugin_manager().create_security(
        load_config(tmp_path / "client.cfg", role="client"), "client")
    req = request(caller=client.caller_id())
    assert decode_request(encode_request(req, client), server) == req


def test_configuration_errors_come_through_unwrapped(tmp_path: Path) -> None:
    cfg = tmp_path / "server.cfg"
    cfg.write_text("plugin.psk.callertype = certificate\n")
    with pytest.raises(ConfigError) as info:
        make_plugin_manager().create_security(load_config(cfg, role="server"), "server")
    assert info.value.key == "plugin.psk.callertype"
    assert info.value.file == str(cfg) and info.value.line == 1
