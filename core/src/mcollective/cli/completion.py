"""Shell completion of ``mco`` (bash and zsh, through argcomplete).

The shell's completion function (``share/bash-completion/completions/mco``,
``share/zsh/site-functions/_mco``, both written by argcomplete) runs ``mco`` with
``_ARGCOMPLETE`` set; :func:`mcollective.cli.main.main` then hands over to
:func:`complete` before anything else, and nothing here is imported otherwise.

What is offered comes from what is installed: application names from the
``mcollective.applications`` entry points (a plugin's own applications included), each
application's options from its own parser (only the application being completed is
loaded), and for ``mco rpc`` the agents, their actions and each action's inputs
(``name=``, and the values of list and boolean inputs) from the installed DDLs.
"""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any


def _words_before_cursor() -> list[str]:
    line = os.environ.get("COMP_LINE", "")
    point = int(os.environ.get("COMP_POINT", len(line)))
    try:
        return shlex.split(line[:point])
    except ValueError:  # an open quote
        return line[:point].split()


def build_parser(words: list[str]) -> argparse.ArgumentParser:
    """``mco`` with one sub-command per installed application; the application the
    command line names (once its name is complete) gets its full parser."""
    from mcollective.plugins import installed_names, make_plugin_manager

    names = installed_names("application")
    parser = argparse.ArgumentParser(prog="mco", add_help=False)
    parser.add_argument("--version", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    typed = os.environ.get("COMP_LINE", "")[:int(os.environ.get("COMP_POINT", "0") or 0)]
    current = words[1] if len(words) > 1 and (len(words) > 2 or typed.endswith(" ")) else None
    plugins = make_plugin_manager()
    for name in names:
        if name != current:
            sub.add_parser(name, add_help=False)
            continue
        try:
            app = plugins.application_class(name)(plugins).build_parser()
        except Exception:  # a broken plugin must not break completing the others
            sub.add_parser(name, add_help=False)
            continue
        sub.add_parser(name, parents=[app], add_help=False, description=app.description)
    return parser


def complete() -> None:
    """Print the completions argcomplete asks for and exit."""
    import argcomplete

    argcomplete.autocomplete(build_parser(_words_before_cursor()), always_complete_options=False)
    raise SystemExit(0)  # argcomplete exits itself; this is for a misconfigured shell


def _client_config(parsed_args: argparse.Namespace) -> Any:
    from mcollective.config import load_config

    try:
        return load_config(getattr(parsed_args, "config", None), role="client")
    except Exception:
        from mcollective.config import Config

        return Config(role="client")


def rpc_words(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Completer of ``mco rpc AGENT ACTION [key=value ...]``."""
    from mcollective.client.rpc import load_client_ddl
    from mcollective.plugins import make_plugin_manager

    plugins = make_plugin_manager()
    config = _client_config(parsed_args)
    words = list(getattr(parsed_args, "words", None) or [])
    agent = getattr(parsed_args, "agent", None) or (words.pop(0) if words else None)
    if agent is None:
        try:
            return sorted(plugins.agent_classes(config))
        except Exception:
            return []
    try:
        ddl = load_client_ddl(plugins, config, agent)
    except Exception:
        ddl = None
    if ddl is None:
        return []
    action = getattr(parsed_args, "action", None) or (words.pop(0) if words else None)
    if action is None:
        return sorted(ddl.actions)
    if action not in ddl.actions:
        return []
    inputs = ddl.action(action).inputs
    given = {w.split("=", 1)[0] for w in words if "=" in w}
    if "=" in prefix:
        key = prefix.split("=", 1)[0]
        item = inputs.get(key)
        values = _input_values(item)
        return [f"{key}={v}" for v in values]
    return [f"{name}=" for name in sorted(inputs) if name not in given]


def _input_values(item: Any) -> list[str]:
    """The values an input can take, where the DDL says: a list's choices, a
    boolean's two words."""
    if item is None:
        return []
    kind = getattr(item, "type", "")
    if kind == "list":
        return [str(v) for v in (getattr(item, "list", None) or [])]
    if kind == "boolean":
        return ["true", "false"]
    return []
