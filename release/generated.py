"""Files generated from the code and shipped with the distributions: manual pages (from
the argument parsers, with argparse-manpage) and shell completion scripts (argcomplete).

    python3 dev.py generate          (or: .venv/bin/python release/generated.py)

writes, for every distribution found (core and ``contrib/*/*``):

* core: ``share/man/man1/mco.1`` (every core application as a sub-command),
  ``mcollectived.1``, ``share/bash-completion/completions/mco`` and
  ``share/zsh/site-functions/_mco``;
* every distribution: ``share/man/man1/mco-<application>.1`` for each application its
  ``mcollective.applications`` entry points declare (a plugin's applications too).

The wheels install ``share/`` under the environment's prefix (``shared-data``), where
``man`` and bash-completion look. ``tests/test_generated.py`` fails when a file here is
missing or differs from what the code generates now: run this again and commit.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artefacts import Distribution, distributions

MANUAL = "mcollective manual"
SEE_ALSO_DOCS = "https://mcollective-py.readthedocs.io/en/latest/"


def applications(dist: Distribution) -> dict[str, type]:
    """The application classes a distribution declares, by name."""
    eps = dist.pyproject["project"].get("entry-points", {}).get("mcollective.applications", {})
    found = {}
    for name, target in sorted(eps.items()):
        module, _, attr = target.partition(":")
        found[name] = getattr(importlib.import_module(module), attr)
    return found


def _page(parser: argparse.ArgumentParser, *, title: str, description: str, dist: Distribution,
          sections: dict[str, str]) -> str:
    from argparse_manpage.manpage import Manpage

    changelog = (dist.path / "CHANGELOG.md").read_text(encoding="utf-8")
    dated = re.search(r"^## \[[^\]]+\] - (\d{4}-\d{2}-\d{2})", changelog, re.M)
    page = Manpage(parser, _data={
        "project_name": dist.name, "version": dist.version, "manual_title": MANUAL,
        "description": description, "date": dated.group(1) if dated else "unreleased",
        "url": SEE_ALSO_DOCS, "authors": ["The mcollective (Python) developers"],
    })
    for heading, content in sections.items():
        page.add_section(heading, ">", content)
    text = str(page)
    # argparse-manpage titles the page after the program ("MCO RPC"); man wants one word.
    return re.sub(r'^\.TH [^"]+ "1"', f'.TH {title.upper().replace("-", r"-")} "1"', text,
                  count=1, flags=re.M)


def _see_also(*pages: str) -> str:
    return ",\n".join(rf"\fB{p.replace('-', chr(92) + '-')}\fR(1)" for p in pages) + \
        f"\n.PP\n{SEE_ALSO_DOCS}"


MCO_ENVIRONMENT = r""".TP
\fBMCOLLECTIVE_EXTRA_OPTS\fR
Options added to every command.
.TP
\fBMCOLLECTIVE_\fIKEY\fR
Overrides configuration key \fIkey\fR (\fBMCOLLECTIVE_CONNECTION_TIMEOUT=5\fR).
.TP
\fBNO_COLOR\fR
No colours (as \fBcolor = 0\fR)."""

MCO_FILES = r""".TP
\fB~/.mcollective\fR, \fB/etc/puppetlabs/mcollective/client.cfg\fR,
\fB/etc/mcollective/client.cfg\fR
The client configuration, the first readable one (\fB\-c\fR names another).
Without any, the embedded broker and generated key of the state directory are used."""

MCOLLECTIVED_FILES = r""".TP
\fB/etc/puppetlabs/mcollective/server.cfg\fR, \fB/etc/mcollective/server.cfg\fR
The configuration, the first readable one (\fB\-c\fR names another).
.TP
\fB$STATE_DIRECTORY\fR, \fB/var/lib/mcollective\fR (root), \fB~/.local/state/mcollective\fR
The state directory: the embedded broker, the generated key, agents' state."""

MCOLLECTIVED_SIGNALS = r""".TP
\fBTERM\fR, \fBINT\fR
Stop taking requests, let running actions finish for up to \fBsoft_shutdown_timeout\fR
seconds, disconnect, exit 0.
.TP
\fBHUP\fR
Reload the configuration file, facts and agents.
.TP
\fBUSR1\fR
Reload agents, facts and plugins with the running configuration.
.TP
\fBUSR2\fR
Cycle the log level: debug, info, warn, error, fatal."""

MCOLLECTIVED_EXIT = r"""0 after a clean stop; 1 when the node could not start: a
configuration error, a plugin that cannot be loaded, or no middleware within
\fBconnection_timeout\fR seconds
(unset, the node keeps trying for ever). With \fB\-\-daemonize\fR the same status is
returned by the command that started the daemon."""


def mco_pages(dist: Distribution) -> dict[str, str]:
    """``mco-<name>.1`` for each application of ``dist``; for core also ``mco.1``."""
    from mcollective.plugins import make_plugin_manager

    plugins = make_plugin_manager()
    apps = applications(dist)
    pages = {}
    for name, cls in apps.items():
        parser = cls(plugins).build_parser()
        pages[f"mco-{name}.1"] = _page(
            parser, title=f"mco-{name}", description=cls.description, dist=dist,
            sections={"environment": MCO_ENVIRONMENT, "files": MCO_FILES,
                      "see also": _see_also("mco")})
    if dist.name == "mcollective-core":
        mco = argparse.ArgumentParser(
            prog="mco", description="The mcollective client: discover nodes by their "
            "metadata and call RPC actions on all of them at once. The first argument "
            "names an application; plugins add their own (mco help lists what is "
            "installed).")
        sub = mco.add_subparsers(dest="command", metavar="COMMAND")
        for name, cls in apps.items():
            sub.add_parser(name, parents=[cls(plugins).build_parser()], add_help=False,
                           help=cls.description, description=cls.description)
        pages["mco.1"] = _page(
            mco, title="mco", description="the mcollective client", dist=dist,
            sections={"environment": MCO_ENVIRONMENT, "files": MCO_FILES,
                      "see also": _see_also(*[f"mco-{n}" for n in apps], "mcollectived")})
        from mcollective.server.main import build_parser

        pages["mcollectived.1"] = _page(
            build_parser(), title="mcollectived", description="the mcollective node daemon",
            dist=dist, sections={"signals": MCOLLECTIVED_SIGNALS, "exit status":
                                 MCOLLECTIVED_EXIT, "files": MCOLLECTIVED_FILES,
                                 "see also": _see_also("mco")})
    return pages


def completion_scripts() -> dict[str, str]:
    import argcomplete

    return {
        "share/bash-completion/completions/mco": argcomplete.shellcode(["mco"], shell="bash"),
        "share/zsh/site-functions/_mco": argcomplete.shellcode(["mco"], shell="zsh"),
    }


def expected_files() -> dict[Path, str]:
    """Every generated file (absolute path) and what it must contain."""
    out: dict[Path, str] = {}
    for dist in distributions():
        for name, text in mco_pages(dist).items():
            out[dist.path / "share" / "man" / "man1" / name] = text
        if dist.name == "mcollective-core":
            for rel, text in completion_scripts().items():
                out[dist.path / rel] = text
    return out


def main() -> int:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
