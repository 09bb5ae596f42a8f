"""Command construction and output parsing of both providers, with no system access:
the yum/dnf side cannot run on a Debian machine, so it is checked here against real
output samples."""

from __future__ import annotations

import pytest

from mcollective_agent_package import detect_provider, split_deb_version
from mcollective_agent_package.apt import AptProvider, parse_madison, parse_simulation
from mcollective_agent_package.base import PackageStatus, digest, glob_to_regex
from mcollective_agent_package.versions import rpm_ensure
from mcollective_agent_package.yum import YumProvider, parse_package_lines


@pytest.mark.parametrize(("full", "parts"), [
    ("5.2.15-2+b8", ("0", "5.2.15", "2+b8")),
    ("1:2.36-9+deb12u4", ("1", "2.36", "9+deb12u4")),
    ("2:9.0.1378-2+deb12u2", ("2", "9.0.1378", "2+deb12u2")),
    ("1.2.3", ("0", "1.2.3", None)),
    ("1:1.0-rc1-3", ("1", "1.0-rc1", "3")),
])
def test_split_deb_version(full: str, parts: tuple[str, str, str | None]) -> None:
    assert split_deb_version(full) == parts


def test_rpm_ensure() -> None:
    assert rpm_ensure("0", "5.0.2", "33.el7") == "5.0.2-33.el7"
    assert rpm_ensure("2", "1.0", "1") == "2:1.0-1"


def test_glob_to_regex() -> None:
    assert glob_to_regex("python3-*") == "^python3\\-.*$"
    assert glob_to_regex("g++") == "^g\\+\\+$"
    assert glob_to_regex("lib?z") == "^lib.z$"


def test_digest_ignores_order() -> None:
    assert digest(["b 1 all", "a 2 amd64"]) == digest(["a 2 amd64", "b 1 all"])


def test_apt_commands() -> None:
    apt = AptProvider()
    install = apt.install_command("nginx", "1.22.1-9")
    assert install[:2] == ["apt-get", "install"]
    assert install[-2:] == ["--", "nginx=1.22.1-9"]
    assert "--allow-downgrades" in install and "-y" in install
    assert apt.install_command("nginx", None)[-1] == "nginx"
    assert "--allow-downgrades" not in apt.install_command("nginx", None)
    assert apt.uninstall_command("nginx")[:2] == ["apt-get", "remove"]
    assert apt.purge_command("nginx")[:2] == ["apt-get", "purge"]
    assert apt.update_command("nginx")[:3] == ["apt-get", "install", "--only-upgrade"]
    assert apt.refresh_command()[:2] == ["apt-get", "update"]
    assert apt.change_env()["DEBIAN_FRONTEND"] == "noninteractive"


def test_apt_purged_means_nothing_left() -> None:
    apt = AptProvider()
    assert apt.is_purged(PackageStatus("x", "purged", "apt"))
    assert not apt.is_purged(PackageStatus("x", "absent", "apt"))


def test_parse_madison() -> None:
    output = ("      bash | 5.2.15-2+b13 | http://deb.debian.org/debian bookworm/main amd64 "
              "Packages\n"
              "      bash | 5.2.15-2 | http://deb.debian.org/debian bookworm/main Sources\n")
    assert parse_madison(output) == [{
        "name": "bash", "version": "5.2.15-2+b13", "arch": "amd64",
        "repo": "http://deb.debian.org/debian bookworm/main"}]


def test_parse_simulation() -> None:
    output = (
        "NOTE: This is only a simulation!\n"
        "Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n"
        "Inst libfoo-dev [1.0-3] (1.0-3+deb12u1 Debian:12.15/oldstable, "
        "Debian-Security:12/oldstable-security [amd64]) []\n"
        "Inst newdep (2.0-1 Debian:12.15/oldstable [amd64])\n"
        "Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n")
    assert parse_simulation(output) == [
        {"package": "base-files", "version": "12.4+deb12u15",
         "repo": "Debian:12.15/oldstable"},
        {"package": "libfoo-dev", "version": "1.0-3+deb12u1",
         "repo": "Debian:12.15/oldstable, Debian-Security:12/oldstable-security"},
    ]


def test_yum_commands() -> None:
    dnf = YumProvider("/usr/bin/dnf")
    assert dnf.name == "dnf" and dnf.family == "yum"
    assert dnf.install_command("zsh", "5.8-9.el9") == ["/usr/bin/dnf", "-y", "-q", "install",
                                                       "--", "zsh-5.8-9.el9"]
    assert dnf.uninstall_command("zsh")[3] == "remove"
    assert dnf.purge_command("zsh") == dnf.uninstall_command("zsh")
    assert dnf.update_command("zsh")[3] == "update"
    assert dnf.clean_command("expire-cache") == ["/usr/bin/dnf", "clean", "expire-cache"]
    assert dnf.refresh_command() == ["/usr/bin/dnf", "-q", "makecache"]
    assert dnf.is_purged(PackageStatus("zsh", "absent", "dnf"))


def test_parse_yum_lines() -> None:
    output = (
        "\n"
        "zsh.x86_64                          5.0.2-34.el7_8.2          updates\n"
        "a-very-long-package-name-that-wraps.noarch\n"
        "                                    1.2.3-1.el7               epel\n"
        "Obsoleting Packages\n"
        "grub2.x86_64                        1:2.02-0.87.el7           updates\n")
    assert parse_package_lines(output) == [
        ("zsh", "x86_64", "5.0.2-34.el7_8.2", "updates"),
        ("a-very-long-package-name-that-wraps", "noarch", "1.2.3-1.el7", "epel"),
    ]
    listing = "Available Packages\nzsh.x86_64   5.8-9.el9   baseos\n"
    assert parse_package_lines(listing) == [("zsh", "x86_64", "5.8-9.el9", "baseos")]


def test_detect_provider_on_this_node() -> None:
    import shutil

    found = detect_provider()
    if shutil.which("apt-get") and shutil.which("dpkg-query"):
        assert isinstance(found, AptProvider)
    if not shutil.which("rpm"):
        assert detect_provider("yum") is None
