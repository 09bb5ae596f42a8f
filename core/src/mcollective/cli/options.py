"""The option groups every application shares (reference §1.2)."""

from __future__ import annotations

import argparse
import os
import shlex


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def add_always(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="client configuration file (default: ~/.mcollective, "
                             "/etc/puppetlabs/mcollective/client.cfg, /etc/mcollective/client.cfg)")
    parser.add_argument("-v", "--verbose", action="store_true", help="be verbose")


def add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Common options")
    group.add_argument("-T", "--target", metavar="COLLECTIVE",
                       help="the collective to address (default: main_collective)")
    group.add_argument("--dt", "--discovery-timeout", dest="discovery_timeout",
                       type=_positive_float, metavar="SECONDS",
                       help="longest discovery may take (it ends early when replies stop)")
    group.add_argument("-t", "--timeout", type=_positive_float, metavar="SECONDS",
                       help="how long to wait for replies (default: the agent's DDL timeout)")
    group.add_argument("-q", "--quiet", action="store_true", help="less output")
    group.add_argument("--ttl", type=_positive_int, metavar="SECONDS",
                       help="how long a request stays valid (default: config ttl, 60)")
    group.add_argument("--dm", "--disc-method", dest="discovery_method", metavar="METHOD",
                       help="discovery method (default: config default_discovery_method, mc)")
    group.add_argument("--do", "--disc-option", dest="discovery_options", action="append",
                       default=[], metavar="OPTION", help="option for the discovery method")
    group.add_argument("--connection-timeout", type=_positive_float, metavar="SECONDS",
                       help="give up connecting to the middleware after this long")


def add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Host filters")
    group.add_argument("-W", "--with", dest="with_", action="append", default=[],
                       metavar="FILTER", help="combined class and fact filter")
    group.add_argument("-S", "--select", dest="compound", action="append", default=[],
                       metavar="EXPRESSION", help="compound filter (and, or, not, ...)")
    group.add_argument("-F", "--wf", "--with-fact", dest="facts", action="append", default=[],
                       metavar="FACT=VALUE", help="fact filter (=, ==, !=, <, >, <=, >=, =~)")
    group.add_argument("-C", "--wc", "--with-class", dest="classes", action="append",
                       default=[], metavar="CLASS", help="class name or /regex/")
    group.add_argument("-A", "--wa", "--with-agent", dest="agents", action="append",
                       default=[], metavar="AGENT", help="agent name or /regex/")
    group.add_argument("-I", "--wi", "--with-identity", dest="identities", action="append",
                       default=[], metavar="IDENTITY", help="identity or /regex/ (any matches)")


def add_rpc(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("RPC options")
    group.add_argument("--np", "--no-progress", dest="progress", action="store_false",
                       default=True, help="do not show a progress bar")
    group.add_argument("-j", "--json", action="store_true", help="produce JSON output")
    group.add_argument("--display", choices=["ok", "failed", "all", "none"],
                       help="which results to show (default: the action's DDL display)")


def extra_opts() -> list[str]:
    """``MCOLLECTIVE_EXTRA_OPTS``: default options added to every application."""
    return shlex.split(os.environ.get("MCOLLECTIVE_EXTRA_OPTS", ""))
