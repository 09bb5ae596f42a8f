"""The package agent on this node's real package manager. Queries run against the
installed system; changes only touch a throwaway package built by the test."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from mcollective.agent import AgentRequest
from mcollective.errors import DDLValidationError
from mcollective_agent_package.runner import RequestRunner, StillRunning

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None,
                                reason="these tests use this node's dpkg")


def dpkg(fmt: str, *packages: str) -> str:
    return subprocess.run(["dpkg-query", "-W", f"-f={fmt}", *packages],
                          capture_output=True, text=True, check=False).stdout


# --- queries ------------------------------------------------------------------------


def test_status_of_an_installed_package(make_agent, call) -> None:
    full = dpkg("${Version}", "bash")
    reply = call(make_agent(), "status", package="bash")
    assert reply.statuscode == 0, reply.statusmsg
    assert reply["name"] == "bash"
    assert reply["ensure"] == full
    assert reply["provider"] == "apt"
    assert reply["arch"] == dpkg("${Architecture}", "bash")
    assert f"{reply['version']}-{reply['release']}" == full.split(":")[-1]
    assert reply["epoch"] == (full.split(":")[0] if ":" in full else "0")
    assert reply["output"] is None


def test_status_of_a_package_with_an_epoch(make_agent, call) -> None:
    candidates = [line.split() for line in dpkg("${Package} ${Version} "
                                                  "${db:Status-Status}\\n").splitlines()]
    with_epoch = [c for c in candidates if len(c) == 3 and ":" in c[1]
                  and c[2] == "installed"]
    if not with_epoch:
        pytest.skip("no installed package has an epoch")
    name, full, _ = with_epoch[0]
    reply = call(make_agent(), "status", package=name)
    assert reply["epoch"] == full.split(":")[0]
    assert reply["ensure"] == full


def test_status_of_missing_packages(make_agent, call) -> None:
    reply = call(make_agent(), "status", package="no-such-package-for-mco")
    assert reply.statuscode == 0
    assert reply["ensure"] == "purged"
    assert reply["version"] is None and reply["arch"] is None
    assert reply["provider"] == "apt"


def test_count_matches_dpkg(make_agent, call) -> None:
    expected = dpkg("${db:Status-Status}\\n").splitlines().count("installed")
    reply = call(make_agent(), "count")
    assert reply.statuscode == 0
    assert reply["output"] == expected
    assert reply["exitcode"] == 0


def test_md5_is_stable_hex(make_agent, call) -> None:
    first = call(make_agent(), "md5")
    second = call(make_agent(), "md5")
    assert re.fullmatch(r"[0-9a-f]{32}", first["output"])
    assert first["output"] == second["output"]
    assert first["exitcode"] == 0


def test_search(make_agent, call) -> None:
    exact = call(make_agent(), "search", package="bash")
    assert exact.statuscode == 0, exact.statusmsg
    if exact["package_count"] == 0:
        pytest.skip("apt has no package lists on this machine")
    assert exact["package_count"] == 1
    entry = exact["available_packages"][0]
    assert entry["name"] == "bash"
    assert entry["version"] and entry["repo"] and entry["arch"]
    glob = call(make_agent(), "search", package="bas*")
    names = {e["name"] for e in glob["available_packages"]}
    assert "bash" in names and len(names) == glob["package_count"] > 1
    assert all(name.startswith("bas") for name in names)
    none = call(make_agent(), "search", package="no-such-package-for-mco*")
    assert (none["package_count"], none["available_packages"]) == (0, [])


def test_checkupdates_from_the_local_lists(make_agent, call) -> None:
    for action in ("checkupdates", "apt_checkupdates"):
        reply = call(make_agent(), action)
        assert reply.statuscode == 0, reply.statusmsg
        assert reply["exitcode"] == 0
        assert isinstance(reply["outdated_packages"], list)
        for entry in reply["outdated_packages"]:
            assert set(entry) == {"package", "version", "repo"}
        assert "NOTE: This is only a simulation!" in reply["output"] or \
            "upgraded" in reply["output"]
    assert call(make_agent(), "checkupdates")["package_manager"] == "apt"


@pytest.mark.parametrize("action", ["yum_checkupdates", "yum_clean"])
def test_yum_actions_refuse_on_an_apt_node(make_agent, call, action) -> None:
    reply = call(make_agent(), action)
    assert reply.statuscode == 1
    assert reply.statusmsg == f"{action} needs yum, but this node's package manager is apt"


def test_names_that_look_like_options_are_invalid(make_agent, call) -> None:
    for action in ("status", "install", "uninstall", "search"):
        reply = call(make_agent(), action, package="--help")
        assert reply.statuscode == 4, action


@pytest.mark.parametrize("package", ["bas*", "~nbash", "?name(bash)", "bash/stable",
                                     "bash=5.2", "b[a]sh", ".bash"])
@pytest.mark.parametrize("action", ["status", "install", "uninstall", "update", "purge"])
def test_globs_and_apt_patterns_are_never_passed_on(make_agent, call, action,
                                                     package) -> None:
    # apt-get remove 'bas*' would remove base-files and base-passwd too.
    reply = call(make_agent(), action, package=package)
    assert reply.statuscode == 4, reply.statusmsg
    assert "invalid package name" in reply.statusmsg
    assert dpkg("${db:Status-Status}", "bash") == "installed"


def test_search_takes_globs_but_not_patterns(make_agent, call) -> None:
    assert call(make_agent(), "search", package="~nbash").statuscode == 4
    assert call(make_agent(), "search", package="ba?h").statuscode == 0


def test_version_syntax(make_agent, call) -> None:
    reply = call(make_agent(), "install", package="no-such-package-for-mco",
                 version="1.0 --force")
    assert reply.statuscode == 4
    assert "invalid version" in reply.statusmsg


def test_ddl_refuses_shell_metacharacters_and_long_names(make_agent, call) -> None:
    with pytest.raises(DDLValidationError, match="'package'"):
        call(make_agent(), "install", package="bash; rm -rf /")
    with pytest.raises(DDLValidationError, match="'package'"):
        call(make_agent(), "status", package="x" * 91)
    with pytest.raises(DDLValidationError, match="'mode'"):
        call(make_agent(), "yum_clean", mode="everything")


# --- changes that must not happen -------------------------------------------------------


def test_installing_an_installed_package_fails_without_changing_it(make_agent, call) -> None:
    before = dpkg("${Version}", "bash")
    reply = call(make_agent(), "install", package="bash")
    assert reply.statuscode == 1
    assert reply.statusmsg == "Package is already installed"
    assert reply["ensure"] == before == dpkg("${Version}", "bash")


@pytest.mark.parametrize("action", ["uninstall", "update", "purge"])
def test_changing_an_absent_package_fails(make_agent, call, action) -> None:
    reply = call(make_agent(), action, package="no-such-package-for-mco")
    assert reply.statuscode == 1
    assert reply.statusmsg == "Package is not present on the system"
    assert reply["ensure"] == "purged"


# --- real changes on a throwaway package ----------------------------------------------------


def test_install_update_uninstall_purge_a_local_deb(make_agent, call, throwaway_deb) -> None:
    agent = make_agent()
    name = "mco-agent-selftest"
    installed = call(agent, "install", package=str(throwaway_deb))
    assert installed.statuscode == 0, installed.statusmsg + (installed["output"] or "")
    assert (installed["name"], installed["ensure"], installed["epoch"], installed["version"],
            installed["release"], installed["arch"]) == (name, "1:1.0-2", "1", "1.0", "2",
                                                         "all")
    assert f"Setting up {name}" in installed["output"]
    assert dpkg("${db:Status-Status}", name) == "installed"

    again = call(agent, "install", package=str(throwaway_deb))
    assert (again.statuscode, again.statusmsg) == (1, "Package is already installed")
    by_name = call(agent, "install", package=name)
    assert by_name.statusmsg == "Package is already installed"

    updated = call(agent, "update", package=name)
    assert updated.statuscode == 0, updated.statusmsg
    assert updated["ensure"] == "1:1.0-2"

    removed = call(agent, "uninstall", package=name)
    assert removed.statuscode == 0, removed.statusmsg
    assert removed["ensure"] == "absent"  # its configuration file is still there
    assert dpkg("${db:Status-Status}", name) == "config-files"
    assert call(agent, "update", package=name).statusmsg == \
        "Package is not present on the system"

    purged = call(agent, "purge", package=name)
    assert purged.statuscode == 0, purged.statusmsg
    assert purged["ensure"] == "purged"
    assert call(agent, "purge", package=name).statusmsg == \
        "Package is not present on the system"


def test_package_file_problems(make_agent, call, throwaway_deb) -> None:
    agent = make_agent()
    with_version = call(agent, "install", package=str(throwaway_deb), version="1.0")
    assert with_version.statuscode == 4
    missing = call(agent, "install", package=str(throwaway_deb.with_name("gone.deb")))
    assert missing.statuscode == 4
    assert "does not exist" in missing.statusmsg
    bogus = throwaway_deb.with_name("bogus.deb")
    bogus.write_text("not a package")
    broken = call(agent, "install", package=str(bogus))
    assert broken.statuscode == 1
    assert "is not a readable .deb file" in broken.statusmsg


def test_a_change_outliving_its_request_is_left_running(make_agent) -> None:
    agent = make_agent()
    request = AgentRequest(agent="package", action="install", data={}, caller="user=test",
                           sender="test", id="1" * 32, time=time.time(),
                           collective="mcollective", timeout=2.6)
    runner = RequestRunner(agent, request)
    started = time.monotonic()
    with pytest.raises(StillRunning, match="left to finish in the background") as info:
        runner.change(["sleep", "30"], {})
    assert time.monotonic() - started < 2.5
    found = re.search(r"pid (\d+)", str(info.value))
    assert found is not None
    subprocess.run(["kill", found.group(1)], check=True)
