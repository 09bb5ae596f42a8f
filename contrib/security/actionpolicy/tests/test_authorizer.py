"""The authorizer: choosing the file, defaults, re-reading, failing closed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mcollective.config import config_from_text, load_config
from mcollective.errors import ConfigError
from mcollective.filters import Node
from mcollective.message import Request
from mcollective.plugins import make_plugin_manager
from mcollective_actionpolicy.authorizer import ActionPolicy
from mcollective_actionpolicy.plugin import create_authorizer
from mcollective_actionpolicy.settings import ActionPolicySettings

NODE = Node("web1", facts={"country": "uk"}, classes=["apache"])


def request(agent: str = "service", caller: str = "user=alice") -> Request:
    return Request(agent=agent, collective="mcollective", sender="client", caller=caller,
                   message={"action": "x", "data": {}})


def authorizer(policy_dir: Path, **kw: object) -> ActionPolicy:
    settings = ActionPolicySettings(policy_dir, bool(kw.get("allow_unconfigured", False)),
                                    bool(kw.get("enable_default", False)),
                                    str(kw.get("default_name", "default")))
    return ActionPolicy(settings)


def write(path: Path, text: str) -> None:
    """Write and move the mtime on, so a rewrite within one clock tick is still seen."""
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_agent_policy_decides_with_reason(tmp_path: Path) -> None:
    write(tmp_path / "service.policy",
          "policy default deny\nallow\tuser=alice\tstatus\t*\t*\n")
    auth = authorizer(tmp_path)
    allowed = auth.authorize(request(), "status", NODE)
    assert allowed.allowed and allowed.reason.endswith("service.policy:2")
    denied = auth.authorize(request(), "stop", NODE)
    assert not denied.allowed and "policy default deny" in denied.reason
    assert ":1 " in denied.reason


def test_unconfigured_agents(tmp_path: Path) -> None:
    assert not authorizer(tmp_path).authorize(request(), "x", NODE).allowed
    decision = authorizer(tmp_path, allow_unconfigured=True).authorize(request(), "x", NODE)
    assert decision.allowed and "allow_unconfigured is on" in decision.reason


def test_no_default_line_falls_back_to_allow_unconfigured(tmp_path: Path) -> None:
    write(tmp_path / "service.policy", "allow\tuser=bob\t*\t*\t*\n")
    assert not authorizer(tmp_path).authorize(request(), "x", NODE).allowed
    assert authorizer(tmp_path, allow_unconfigured=True).authorize(request(), "x",
                                                                    NODE).allowed


def test_default_policy(tmp_path: Path) -> None:
    write(tmp_path / "fallback.policy", "policy default deny\nallow\tuser=alice\t*\t*\t*\n")
    auth = authorizer(tmp_path, enable_default=True, default_name="fallback")
    assert auth.authorize(request(), "x", NODE).allowed
    assert not auth.authorize(request(caller="user=bob"), "x", NODE).allowed
    # Own file wins over the default one.
    write(tmp_path / "service.policy", "policy default allow\n")
    assert auth.authorize(request(caller="user=bob"), "x", NODE).allowed
    # Default policy enabled but missing: allow_unconfigured decides.
    missing = authorizer(tmp_path, enable_default=True, default_name="nothere")
    assert not missing.authorize(request("other"), "x", NODE).allowed


def test_discovery_allowed_unless_it_has_a_policy(tmp_path: Path) -> None:
    write(tmp_path / "default.policy", "policy default deny\n")
    auth = authorizer(tmp_path, enable_default=True)
    assert auth.authorize(request("discovery"), "ping", NODE).allowed
    write(tmp_path / "discovery.policy", "policy default deny\n")
    assert not auth.authorize(request("discovery"), "ping", NODE).allowed


def test_files_are_reread_when_changed(tmp_path: Path) -> None:
    policy = tmp_path / "service.policy"
    write(policy, "policy default deny\n")
    auth = authorizer(tmp_path)
    assert not auth.authorize(request(), "x", NODE).allowed
    write(policy, "policy default allow\n")
    assert auth.authorize(request(), "x", NODE).allowed
    # Groups changes apply to policies that were already loaded.
    write(tmp_path / "groups", "ops user=bob\n")
    write(policy, "policy default deny\nallow\tops\t*\t*\t*\n")
    assert auth.authorize(request(caller="user=bob"), "x", NODE).allowed
    write(tmp_path / "groups", "ops user=carol\n")
    assert not auth.authorize(request(caller="user=bob"), "x", NODE).allowed
    assert auth.authorize(request(caller="user=carol"), "x", NODE).allowed


def test_broken_files_deny_and_log_once(tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    policy = tmp_path / "service.policy"
    write(policy, "policy default allow\nallow user=alice * * *\n")
    auth = authorizer(tmp_path, allow_unconfigured=True)
    with caplog.at_level(logging.ERROR, "mcollective_actionpolicy"):
        for _ in range(3):
            decision = auth.authorize(request(), "x", NODE)
            assert not decision.allowed
    assert f"{policy}:2" in decision.reason
    # The caller is told which file and line to fix, not just "not authorized".
    assert decision.notice.startswith("service.policy:2 on this node cannot be parsed")
    assert len([r for r in caplog.records if "service.policy:2" in r.getMessage()]) == 1
    write(policy, "policy default allow\n")
    assert auth.authorize(request(), "x", NODE).allowed
    write(tmp_path / "groups", "admins user=root\nbad /(/\n")
    decision = auth.authorize(request(), "x", NODE)
    assert not decision.allowed and "groups file is broken" in decision.reason
    assert decision.notice.startswith("groups:2 on this node cannot be parsed")
    (tmp_path / "groups").unlink()
    policy.write_bytes(b"policy default allow\n\xff\n")
    decision = auth.authorize(request(), "x", NODE)
    assert not decision.allowed and "UTF-8" in decision.reason


def test_hostile_agent_names_never_name_files(tmp_path: Path) -> None:
    write(tmp_path / "x.policy", "policy default allow\n")
    auth = authorizer(tmp_path, allow_unconfigured=True)
    for agent in ("../x", "x/../x", "X", "", "a b"):
        assert not auth.authorize(request(agent), "x", NODE).allowed


def test_plugin_from_config_file(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    write(tmp_path / "policies" / "service.policy", "policy default allow\n")
    cfg = tmp_path / "server.cfg"
    cfg.write_text("identity = n1\nrpcauthorization = 1\nrpcauthprovider = action_policy\n"
                   "plugin.actionpolicy.enable_default = yes\n", encoding="utf-8")
    config = load_config(cfg, role="server", environ={})
    auth = make_plugin_manager().create_authorizer(config)
    assert isinstance(auth, ActionPolicy)
    assert auth.settings.policy_dir == tmp_path / "policies"
    assert auth.settings.enable_default
    assert auth.authorize(request(), "x", NODE).allowed


def test_policy_dir_setting_and_bad_keys(tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    config = config_from_text(f"plugin.actionpolicy.policy_dir = {tmp_path}\n",
                              role="server")
    assert create_authorizer(config).settings.policy_dir == tmp_path
    # A misspelt key is warned about and ignored, which keeps the safe default.
    with caplog.at_level(logging.WARNING, "mcollective.config"):
        auth = create_authorizer(config_from_text(
            "plugin.actionpolicy.allow_unconfgured = 1\n"))
    assert auth.settings.allow_unconfigured is False
    assert "did you mean 'plugin.actionpolicy.allow_unconfigured'?" in caplog.text
    with pytest.raises(ConfigError, match="default_name"):
        create_authorizer(config_from_text("plugin.actionpolicy.default_name = ../x\n"))
