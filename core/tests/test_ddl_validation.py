"""Request validation (server and client) and CLI typing, as Choria does it for the real
plugin agents."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mcollective import hookimpl
from mcollective.ddl import ActionDDL, AgentDDL, action_ddl, input_item, load_agent_ddl
from mcollective.errors import DDLValidationError, PluginLoadError, ValidatorError
from mcollective.plugins import make_plugin_manager
from mcollective.testing import choria_corpus_path
from mcollective.validators import plugin_resolver

# The compatibility corpus, vendored byte for byte (see its README for provenance).
CORPUS = choria_corpus_path()


def agent(name: str) -> AgentDDL:
    return load_agent_ddl(CORPUS / f"{name}.json")


def invalid(action: ActionDDL, data: dict[str, Any], **kwargs: Any) -> DDLValidationError:
    with pytest.raises(DDLValidationError) as info:
        action.validate(data, **kwargs)
    return info.value


# --- package: shellsafe, list --------------------------------------------------------------


def test_package_install() -> None:
    install = agent("package").action("install")
    assert install.validate({"package": "zsh"}) == {"package": "zsh"}
    assert install.validate({"package": "zsh", "version": "5.9-1"}) == {
        "package": "zsh", "version": "5.9-1"}

    err = invalid(install, {"package": "foo; rm -rf /"})
    assert (err.input, err.missing) == ("package", False)
    assert str(err) == ("package#install: invalid input 'package': 'foo; rm -rf /' is not "
                        "shell safe: it contains ';'")
    for bad in ("a`id`", "$(id)", "a|b", "a && b", "a > /etc/passwd", "a < b", "a\nrm -rf /"):
        assert invalid(install, {"package": bad}).input == "package"
    assert invalid(install, {"package": "zsh", "version": "1;reboot"}).input == "version"

    err = invalid(install, {"package": "x" * 91})
    assert "longer than 90 characters (91)" in str(err)


def test_package_yum_clean_list() -> None:
    clean = agent("package").action("yum_clean")
    assert clean.validate({"mode": "expire-cache"}) == {"mode": "expire-cache"}
    assert clean.validate({}) == {}
    err = invalid(clean, {"mode": "everything"})
    assert err.input == "mode"
    assert "should be one of all, headers, packages" in str(err)


# --- missing, unknown, null ------------------------------------------------------------------


def test_missing_required_input() -> None:
    err = invalid(agent("package").action("install"), {"version": "1"})
    assert err.missing is True
    assert err.input == "package"
    assert str(err) == "package#install: input 'package' is required"


def test_unknown_input_is_rejected() -> None:
    install = agent("package").action("install")
    err = invalid(install, {"package": "zsh", "pakage": "zsh"})
    assert (err.input, err.missing) == ("pakage", False)
    assert str(err) == ("package#install: unknown input 'pakage' (did you mean "
                        "'package'?); valid inputs: package, version")
    # reported before the missing input it probably was meant to be
    assert invalid(install, {"pakage": "zsh"}).input == "pakage"
    err = invalid(agent("package").action("md5"), {"x": 1})
    assert str(err) == "package#md5: unknown input 'x': this action takes no inputs"


def test_process_results_is_ignored() -> None:
    install = agent("package").action("install")
    assert install.validate({"package": "zsh", "process_results": False}) == {"package": "zsh"}


def test_null_counts_as_absent() -> None:
    install = agent("package").action("install")
    assert install.validate({"package": "zsh", "version": None}) == {"package": "zsh"}
    assert invalid(install, {"package": None}).missing is True


def test_validate_does_not_change_its_argument() -> None:
    summary = agent("puppet").action("last_run_summary")
    data: dict[str, Any] = {}
    assert summary.validate(data) == {"logs": False}
    assert data == {}


# --- service: a validator plugin nobody installed -------------------------------------------


def test_unknown_plugin_validator_warns_once_and_accepts(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mcollective.ddl")
    service = agent("service")
    assert service.action("restart").validate({"service": "httpd"}) == {"service": "httpd"}
    assert service.action("stop").validate({"service": "anything at all"})
    assert service.action("restart").validate({"service": "sshd"}, validators=lambda n: None)
    warnings = [r for r in caplog.records if "service_name" in r.getMessage()]
    assert len(warnings) == 1
    assert "is not installed" in warnings[0].getMessage()
    assert warnings[0].levelno == logging.WARNING
    # the maxlength still applies
    assert invalid(service.action("start"), {"service": "x" * 91}).input == "service"


def _service_name(value: Any) -> None:
    if not isinstance(value, str) or not value.replace("-", "").replace("_", "").isalnum():
        raise ValidatorError(f"{value!r} is not a valid service name")


class ServiceName:
    """A third-party validator plugin, declared the same way core's are."""

    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        return _service_name


class Broken:
    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        raise RuntimeError("cannot initialise")


class Crashing:
    @hookimpl
    @staticmethod
    def mco_validator_create(name: str) -> Any:
        def check(value: Any) -> None:
            raise KeyError(value)

        return check


def test_installed_plugin_validator_is_used() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register("validator", "service_name", ServiceName)
    resolver = plugin_resolver(pm)
    restart = agent("service").action("restart")
    assert restart.validate({"service": "httpd"}, validators=resolver) == {"service": "httpd"}
    err = invalid(restart, {"service": "httpd; reboot"}, validators=resolver)
    assert err.input == "service"
    assert "'httpd; reboot' is not a valid service name" in str(err)


def test_broken_plugin_validator_refuses(caplog: pytest.LogCaptureFixture) -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register("validator", "service_name", Broken)
    with pytest.raises(PluginLoadError):
        plugin_resolver(pm)("service_name")
    caplog.set_level(logging.ERROR, logger="mcollective.ddl")
    err = invalid(agent("service").action("restart"), {"service": "httpd"},
                  validators=plugin_resolver(pm))
    assert err.input == "service" and not err.missing
    assert "validator 'service_name' could not be loaded" in str(err)


def test_crashing_plugin_validator_refuses(caplog: pytest.LogCaptureFixture) -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register("validator", "service_name", Crashing)
    caplog.set_level(logging.ERROR, logger="mcollective.ddl")
    err = invalid(agent("service").action("restart"), {"service": "httpd"},
                  validators=plugin_resolver(pm))
    assert "validator 'service_name' failed: KeyError" in str(err)
    assert "validator 'service_name' failed on input 'service'" in caplog.text


def test_plugin_resolver_asks_once() -> None:
    asked: list[str] = []

    def resolve(name: str) -> Any:
        asked.append(name)
        return _service_name

    restart = agent("service").action("restart")
    for _ in range(3):
        restart.validate({"service": "httpd"}, validators=resolve)
    assert asked == ["service_name"]
    # a different resolver is asked afresh
    restart.validate({"service": "httpd"}, validators=lambda n: None)


def test_builtin_names_cannot_be_replaced_by_plugins() -> None:
    install = agent("package").action("install")
    err = invalid(install, {"package": "a;b"}, validators=lambda name: lambda value: None)
    assert "not shell safe" in str(err)


# --- nrpe: Ruby anchors ------------------------------------------------------------------------


def test_nrpe_ruby_anchored_regex() -> None:
    run = agent("nrpe").action("runcommand")
    assert run.validate({"command": "check_load"}) == {"command": "check_load"}
    assert run.validate({"command": "check-disk_1", "args": "-w 5 -c 10"})
    for bad in ("check load", "check_load\n", "x;y", ""):
        err = invalid(run, {"command": bad})
        assert err.input == "command"
    assert "does not match /\\A[a-zA-Z0-9_-]+\\z/" in str(invalid(run, {"command": "a b"}))


# --- shell: float, integer, array, escaped regex ---------------------------------------------


def test_shell_run_float_timeout() -> None:
    run = agent("shell").action("run")
    assert run.validate({"command": "uptime", "timeout": 2.5})["timeout"] == 2.5
    out = run.validate({"command": "uptime", "timeout": 10})
    assert out["timeout"] == 10.0 and isinstance(out["timeout"], float)
    for bad in ("10", True):
        err = invalid(run, {"command": "uptime", "timeout": bad})
        assert err.input == "timeout"
        assert "expected a float" in str(err)
    assert run.validate({"command": "x" * 10240})
    assert invalid(run, {"command": "x" * 10241}).input == "command"


def test_shell_status_integers_and_handle() -> None:
    status = agent("shell").action("status")
    handle = "5b0fd77d-33b7-4e3a-9ad7-f8cab2b57b8e"
    assert status.validate({"handle": handle, "stdout_offset": 10}) == {
        "handle": handle, "stdout_offset": 10}
    for bad in (1.5, True, "10"):
        err = invalid(status, {"handle": handle, "stdout_offset": bad})
        assert err.input == "stdout_offset" and "expected an integer" in str(err)
    assert invalid(status, {"handle": "ABC"}).input == "handle"


def test_shell_statuses_array() -> None:
    statuses = agent("shell").action("statuses")
    assert statuses.validate({"handles": ["a", "b"]}) == {"handles": ["a", "b"]}
    err = invalid(statuses, {"handles": "a,b"})
    assert "expected an array" in str(err)


# --- puppet: booleans, numbers, defaults -----------------------------------------------------


def test_puppet_runonce_types() -> None:
    runonce = agent("puppet").action("runonce")
    ok = {"force": True, "noop": False, "splaylimit": 30, "tags": "apache,mysql"}
    assert runonce.validate(ok) == ok
    assert runonce.validate({"splaylimit": 1.5}) == {"splaylimit": 1.5}
    assert runonce.validate({"splaylimit": 30})["splaylimit"] == 30  # number keeps ints
    for key, bad in (("force", "yes"), ("force", 1), ("splaylimit", True),
                     ("splaylimit", "30")):
        err = invalid(runonce, {key: bad})
        assert err.input == key


def test_puppet_defaults_and_required() -> None:
    puppet = agent("puppet")
    assert puppet.action("last_run_summary").validate({}) == {"logs": False}
    assert puppet.action("last_run_summary").validate({"logs": True}) == {"logs": True}
    resource = puppet.action("resource")
    err = invalid(resource, {"type": "package"})
    assert err.missing and err.input == "name"
    assert resource.validate({"name": "zsh", "type": "package", "environment": "production"})
    assert invalid(resource, {"name": "", "type": "package"}).input == "name"


def test_puppet_disable_message_is_shellsafe() -> None:
    disable = agent("puppet").action("disable")
    assert disable.validate({"message": "maintenance window"})
    assert invalid(disable, {"message": "oops; reboot"}).input == "message"


# --- the others ------------------------------------------------------------------------------


def test_filemgr_all_optional() -> None:
    status = agent("filemgr").action("status")
    assert status.validate({}) == {}
    assert status.validate({"file": "/etc/hosts", "dirlist": True})
    assert invalid(status, {"file": ""}).input == "file"
    assert invalid(status, {"dirlist": "true"}).input == "dirlist"


def test_process_list() -> None:
    ps = agent("process").action("list")
    assert ps.validate({"pattern": "ruby", "just_zombies": True, "user": "root"})
    assert invalid(ps, {"pattern": "ruby|sh"}).input == "pattern"


def test_nettest_connect() -> None:
    connect = agent("nettest").action("connect")
    assert connect.validate({"fqdn": "example.com", "port": 443}) == {
        "fqdn": "example.com", "port": 443}
    err = invalid(connect, {"fqdn": "example.com"})
    assert err.missing and err.input == "port"
    assert invalid(connect, {"fqdn": "example.com", "port": "443"}).input == "port"


def test_iptables_ipaddress() -> None:
    block = agent("iptables").action("block")
    for good in ("10.0.0.1", "2001:db8::1", "::1"):
        assert block.validate({"ipaddr": good}) == {"ipaddr": good}
    for bad in ("10.0.0.256", "example.com", "10.0.0.0/8", "10.0.0.1; reboot"):
        err = invalid(block, {"ipaddr": bad})
        assert err.input == "ipaddr" and "is not an IPv4 or IPv6 address" in str(err)


def test_rpcutil_regexes() -> None:
    rpcutil = agent("rpcutil")
    assert rpcutil.action("get_facts").validate({"facts": "os, kernel,ipaddress"})
    assert invalid(rpcutil.action("get_facts"), {"facts": "os;id"}).input == "facts"
    assert rpcutil.action("get_data").validate({"source": "fstat", "query": "/etc/hosts"})
    assert invalid(rpcutil.action("get_data"), {"source": "f-stat"}).input == "source"
    # $ means end of text, as in Choria: no sneaking a newline past ^\w+$
    assert invalid(rpcutil.action("get_data"), {"source": "fstat\n"}).input == "source"


# --- maxlength 0 -------------------------------------------------------------------------------


def test_maxlength_zero_is_unlimited_but_still_validated() -> None:
    act = action_ddl("run", "d", inputs=[
        input_item("command", description="c", validation="shellsafe", maxlength=0),
        input_item("name", description="n", validation="^[a-z]+$", maxlength=0),
    ])
    assert act.validate({"command": "x" * 100_000, "name": "abc"})
    # Choria would skip validation here; we do not (docs/ddl.md).
    assert invalid(act, {"command": "ls; reboot"}).input == "command"
    assert invalid(act, {"command": "ls", "name": "ABC"}).input == "name"


# --- client side: typing strings -----------------------------------------------------------------


def test_coerce_booleans() -> None:
    runonce = agent("puppet").action("runonce")
    for text in ("true", "T", "yes", "Y", "1", "TRUE"):
        assert runonce.coerce({"force": text}) == {"force": True}
    for text in ("false", "F", "no", "N", "0", "False"):
        assert runonce.coerce({"force": text}) == {"force": False}
    with pytest.raises(DDLValidationError) as info:
        runonce.coerce({"force": "maybe"})
    assert info.value.input == "force"
    assert str(info.value) == ("puppet#runonce: input 'force' must be a boolean: "
                               "true/t/yes/y/1 or false/f/no/n/0, got 'maybe'")


def test_coerce_numbers() -> None:
    status = agent("shell").action("status")
    assert status.coerce({"handle": "abc", "stdout_offset": "10"}) == {
        "handle": "abc", "stdout_offset": 10}
    assert status.coerce({"stdout_offset": "-3"}) == {"stdout_offset": -3}
    for bad in ("1.5", "ten", "", "0x10"):
        with pytest.raises(DDLValidationError, match="input 'stdout_offset' must be an "
                                                     "integer"):
            status.coerce({"stdout_offset": bad})

    run = agent("shell").action("run")
    for text, value in (("10", 10.0), ("2.5", 2.5), ("-1.5", -1.5), (".5", 0.5),
                        ("1e3", 1000.0)):
        got = run.coerce({"timeout": text})["timeout"]
        assert got == value and isinstance(got, float)
    for bad in ("nan", "inf", "1.2.3", "soon"):
        with pytest.raises(DDLValidationError, match="input 'timeout' must be a number"):
            run.coerce({"timeout": bad})

    runonce = agent("puppet").action("runonce")
    assert runonce.coerce({"splaylimit": "30"}) == {"splaylimit": 30}
    assert runonce.coerce({"splaylimit": "1.5"}) == {"splaylimit": 1.5}
    with pytest.raises(DDLValidationError, match="'splaylimit' must be a number"):
        runonce.coerce({"splaylimit": "x"})


def test_coerce_json_inputs() -> None:
    statuses = agent("shell").action("statuses")
    assert statuses.coerce({"handles": '["a", "b"]'}) == {"handles": ["a", "b"]}
    with pytest.raises(DDLValidationError) as info:
        statuses.coerce({"handles": "a,b"})
    assert info.value.input == "handles"
    assert "input 'handles' must be a JSON array" in str(info.value)
    with pytest.raises(DDLValidationError, match="must be a JSON array"):
        statuses.coerce({"handles": '{"a": 1}'})

    act = action_ddl("set", "d", inputs=[input_item("labels", description="l", type="hash")])
    assert act.coerce({"labels": '{"a": 1}'}) == {"labels": {"a": 1}}
    with pytest.raises(DDLValidationError, match="input 'labels' must be a JSON object"):
        act.coerce({"labels": "[1]"})


def test_coerce_keeps_strings_and_lists_and_typed_values() -> None:
    install = agent("package").action("install")
    assert install.coerce({"package": " 1 "}) == {"package": " 1 "}
    assert agent("package").action("yum_clean").coerce({"mode": "all"}) == {"mode": "all"}
    assert agent("shell").action("run").coerce({"timeout": 5}) == {"timeout": 5}


def test_coerce_unknown_input_lists_valid_ones() -> None:
    with pytest.raises(DDLValidationError) as info:
        agent("nettest").action("connect").coerce({"host": "example.com"})
    assert info.value.input == "host"
    assert str(info.value) == ("nettest#connect: unknown input 'host'; valid inputs: fqdn, "
                               "port")


def test_client_pipeline() -> None:
    """What `mco rpc puppet runonce force=yes splaylimit=30` does before sending."""
    runonce = agent("puppet").action("runonce")
    data = runonce.validate(runonce.coerce({"force": "yes", "splaylimit": "30"}))
    assert data == {"force": True, "splaylimit": 30}
    connect = agent("nettest").action("connect")
    assert connect.validate(connect.coerce({"fqdn": "example.com", "port": "22"})) == {
        "fqdn": "example.com", "port": 22}
