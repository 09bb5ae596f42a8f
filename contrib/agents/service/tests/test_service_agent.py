"""The service agent on this node: real systemctl calls where systemd runs, and the
clear refusal where it does not."""

from __future__ import annotations

import shutil

import pytest

from mcollective.errors import ConfigError, DDLValidationError, RPCAborted, ValidatorError
from mcollective_agent_service.managers import SysV, choose
from mcollective_agent_service.systemd import (
    UnitState,
    control_command,
    parse_show,
    show_command,
    systemd_running,
)
from mcollective_agent_service.validator import service_name

needs_systemd = pytest.mark.skipif(not systemd_running(), reason="systemd is not running")
without_systemd = pytest.mark.skipif(systemd_running(), reason="systemd is running here")


@without_systemd
@pytest.mark.parametrize("action", ["status", "start", "stop", "restart"])
def test_every_action_refuses_clearly_without_systemd(make_agent, call, action) -> None:
    reply = call(make_agent("plugin.service.provider = systemd\n"), action, service="cron")
    assert reply.statuscode == 1
    assert "systemd is not running on this node" in reply.statusmsg
    assert "/run/systemd/system" in reply.statusmsg
    assert reply["status"] == "unknown"


def test_with_no_service_manager_at_all_every_reason_is_given(tmp_path) -> None:
    with pytest.raises(RPCAborted) as caught:
        choose("auto", tmp_path / "init.d", runtime_dir=tmp_path / "systemd",
               openrc_dir=tmp_path / "openrc")
    assert str(caught.value) == (
        f"cannot manage services on this node: systemd is not running on this node "
        f"({tmp_path}/systemd is missing); OpenRC is not running ({tmp_path}/openrc is "
        f"missing); there are no SysV init scripts ({tmp_path}/init.d is missing)")


def test_auto_prefers_systemd_then_openrc_then_sysv(tmp_path) -> None:
    (tmp_path / "init.d").mkdir()
    found = choose("auto", tmp_path / "init.d", runtime_dir=tmp_path / "systemd",
                   openrc_dir=tmp_path / "openrc")
    assert isinstance(found, SysV) and found.init_dir == tmp_path / "init.d"
    if shutil.which("systemctl"):
        (tmp_path / "systemd").mkdir()
        assert choose("auto", tmp_path / "init.d", runtime_dir=tmp_path / "systemd",
                      openrc_dir=tmp_path / "openrc").name == "systemd"


def test_sysv_status_follows_lsb_exit_codes(make_agent, call, tmp_path) -> None:
    init = tmp_path / "init.d"
    init.mkdir()
    for name, code in (("up", 0), ("dead", 1), ("down", 3), ("unsure", 4)):
        (init / name).write_text(f"#!/bin/sh\necho checked >&2\nexit {code}\n")
        (init / name).chmod(0o755)
    agent = make_agent(f"plugin.service.provider = sysv\nplugin.service.init_dir = {init}\n")
    assert call(agent, "status", service="up")["status"] == "running"
    assert call(agent, "status", service="dead")["status"] == "stopped"
    assert call(agent, "status", service="down")["status"] == "stopped"
    unsure = call(agent, "status", service="unsure")
    assert unsure.statuscode == 1
    assert unsure.statusmsg == ("Could not tell whether 'unsure' is running: its init "
                                "script answered status 4 (checked)")
    assert call(agent, "status", service="..").statuscode == 1


def test_an_unknown_provider_is_a_config_error(make_agent) -> None:
    with pytest.raises(ConfigError, match=r"plugin\.service\.provider"):
        make_agent("plugin.service.provider = upstart\n")


@needs_systemd
def test_status_of_a_core_unit(make_agent, call) -> None:
    reply = call(make_agent(), "status", service="systemd-journald")
    assert reply.statuscode == 0, reply.statusmsg
    assert reply["status"] == "running"


@needs_systemd
def test_unknown_unit(make_agent, call) -> None:
    reply = call(make_agent(), "status", service="no-such-unit-for-mco-tests")
    assert reply.statuscode == 1
    assert "Could not find service" in reply.statusmsg


@needs_systemd
def test_starting_a_running_service_fails_as_in_choria(make_agent, call) -> None:
    reply = call(make_agent(), "start", service="systemd-journald")
    assert reply.statuscode == 1
    assert reply.statusmsg == "Could not start 'systemd-journald': Service is already running"
    assert reply["status"] == "running"


def test_parse_show() -> None:
    state = parse_show("LoadState=loaded\nActiveState=active\nSubState=running\n")
    assert state == UnitState("loaded", "active", "running")
    assert state.exists and state.status == "running"
    assert parse_show("LoadState=not-found\nActiveState=inactive\nSubState=dead").exists is False


@pytest.mark.parametrize(("active", "status"), [
    ("active", "running"), ("reloading", "running"), ("inactive", "stopped"),
    ("failed", "stopped"), ("activating", "stopped"), ("deactivating", "stopped"),
])
def test_active_state_mapping(active: str, status: str) -> None:
    assert UnitState("loaded", active, "").status == status


def test_commands_never_take_names_for_options() -> None:
    assert control_command("restart", "nginx") == ["systemctl", "restart", "--", "nginx"]
    show = show_command("getty@tty1")
    assert show[:2] == ["systemctl", "show"] and show[-2:] == ["--", "getty@tty1"]


@pytest.mark.parametrize("name", ["nginx", "nginx.service", "getty@tty1.service",
                                  "dev-disk-by\\x2dlabel.device", "php7.4-fpm", "a:b_c"])
def test_service_name_accepts(name: str) -> None:
    service_name(name)


@pytest.mark.parametrize("name", ["", "-x", "--now", "a b", "a;b", "a/b", "$(id)", None])
def test_service_name_refuses(name: object) -> None:
    with pytest.raises(ValidatorError):
        service_name(name)


def test_the_ddl_applies_the_validator(make_agent, call) -> None:
    with pytest.raises(DDLValidationError, match="'service'"):
        call(make_agent(), "status", service="--all")


# OpenRC cannot run in this test environment (it needs to be the init system): a
# stand-in `rc-service` script answers as OpenRC's does, exit codes included, so that
# the commands the agent builds and its reading of the answers are checked.
RC_SERVICE = """\
#!/bin/sh
echo "$@" >> {log}
if [ "$1" = --exists ]; then [ "$2" = sshd ]; exit $?; fi
case "$2" in
  status) [ -f {state} ] && {{ echo " * status: started"; exit 0; }}
          echo " * status: stopped"; exit 3 ;;
  start) touch {state} ;;
  stop) rm -f {state} ;;
esac
"""


def test_openrc_is_chosen_where_it_runs_and_driven_by_rc_service(tmp_path, monkeypatch
                                                                  ) -> None:
    from mcollective.agent import run_command
    from mcollective_agent_service.managers import OpenRC

    bin_dir, log, state = tmp_path / "bin", tmp_path / "calls", tmp_path / "started"
    bin_dir.mkdir()
    (bin_dir / "rc-service").write_text(RC_SERVICE.format(log=log, state=state))
    (bin_dir / "rc-service").chmod(0o755)
    (tmp_path / "openrc").mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    manager = choose("auto", tmp_path / "init.d", runtime_dir=tmp_path / "systemd",
                     openrc_dir=tmp_path / "openrc")
    assert isinstance(manager, OpenRC)
    assert manager.status("sshd", run_command) == "stopped"
    argv, env = manager.control("start", "sshd")
    assert argv == [str(bin_dir / "rc-service"), "sshd", "start"] and env is None
    assert run_command(argv).exitcode == 0
    assert manager.status("sshd", run_command) == "running"
    with pytest.raises(RPCAborted, match="OpenRC has no such service"):
        manager.status("nginx", run_command)
    assert log.read_text().splitlines()[:2] == ["--exists sshd", "sshd status"]
    # Asked for explicitly where it does not run: the reason, and only that one.
    with pytest.raises(RPCAborted) as caught:
        choose("openrc", runtime_dir=tmp_path / "systemd", openrc_dir=tmp_path / "none")
    assert str(caught.value) == (
        f"cannot manage services on this node (plugin.service.provider = openrc): "
        f"OpenRC is not running ({tmp_path}/none is missing)")
