"""The option groups every application shares (reference §1.2)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from typing import Any, NoReturn

#: What ``-j`` prints: Choria's object (the default) or MCollective's bare array.
JSON_FORMATS = ("choria", "mcollective")

#: Exit code of a command line ``mco`` cannot parse (a bad option or value), as for
#: every other error of the user's (docs/commands.md#exit-codes).
USAGE_ERROR = 1


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a command line it cannot parse exits with :data:`USAGE_ERROR`
    (argparse's own 2 is ``mco``'s code for "some nodes failed")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument, and its default width
        # imports shutil (with bz2, lzma and zlib) to ask for the terminal's size:
        # a few milliseconds of every mco run (issue 14). The same width, without it.
        # (typeshed's formatter_class type only names ``prog``; every HelpFormatter
        # takes ``width``.)
        make: Any = self.formatter_class
        return make(prog=self.prog, width=terminal_width() - 2)


def terminal_width() -> int:
    """``shutil.get_terminal_size().columns``: ``$COLUMNS``, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _window(text: str) -> float:
    value = _positive_float(text)
    if value < 0.01:
        raise argparse.ArgumentTypeError(f"must be at least 0.01 seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _size(text: str) -> str:
    """``N`` or ``N%`` with N > 0 (``--limit-nodes``, ``--batch``)."""
    match = re.fullmatch(r"(\d+)(%?)", text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"expected N or N% with N > 0, got {text!r}")
    if match.group(2) and int(match.group(1)) > 100:
        raise argparse.ArgumentTypeError(f"a percentage cannot exceed 100%, got {text!r}")
    return text.strip()


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


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
    group.add_argument("--nodes", metavar="FILE",
                       help="the nodes listed in FILE (text, JSON or YAML): same as "
                            "--dm flatfile --do FILE")
    group.add_argument("--discovery-window", dest="discovery_window", type=_window,
                       metavar="SECONDS",
                       help="mc discovery ends this long after the last reply (default: "
                            "config discovery_window, 0.3)")
    group.add_argument("--connection-timeout", type=_positive_float, metavar="SECONDS",
                       help="give up connecting to the middleware after this long")
    group.add_argument("--publish_timeout", "--publish-timeout", dest="publish_timeout",
                       type=_positive_float, metavar="SECONDS",
                       help="longest a connector may take to hand a request to the "
                            "middleware (default: config publish_timeout, 2)")
    group.add_argument("--threaded", action="store_true",
                       help="accepted for MCollective compatibility: replies are always "
                            "received on their own thread while requests are published")


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
    modes = group.add_mutually_exclusive_group()
    modes.add_argument("-j", "--json", action="store_true",
                       help="one JSON document: Choria's object (agent, action, replies, "
                            "request_stats, summaries); see --json-format")
    modes.add_argument("--jsonl", action="store_true",
                       help="one JSON line per event (discovery, result, summaries, stats)")
    modes.add_argument("--table", action="store_true",
                       help="successful results as a table, one column per output")
    modes.add_argument("--senders", action="store_true",
                       help="only the names of the nodes that answered OK")
    group.add_argument("--json-format", choices=JSON_FORMATS, metavar="FORMAT",
                       help="what -j prints: 'choria' (the default: an object with the "
                            "replies, request_stats and summaries) or 'mcollective' (the "
                            "bare array of replies); implies -j")
    group.add_argument("--display", choices=["ok", "failed", "all", "none"],
                       help="which results to show (default: the action's DDL display)")
    group.add_argument("--sort", action="store_true",
                       help="order -j and --jsonl replies by sender (text, --table and "
                            "--senders are always sorted)")
    group.add_argument("--filter-replies", dest="filter_replies", metavar="EXPR",
                       help="show only the replies for which EXPR is true, e.g. "
                            "'ok() && data(\"ensure\") == \"1.2\"' (docs/output.md)")
    group.add_argument("-o", "--output-file", dest="output_file", metavar="FILE",
                       help="write the results to FILE instead of standard output")
    add_targeting(parser)


def add_targeting(parser: argparse.ArgumentParser) -> None:
    """Which of the discovered nodes a request goes to, and how (reference §1.2, §11)."""
    group = parser.add_argument_group("Targeting options")
    group.add_argument("--limit-nodes", "--ln", "--limit", dest="limit", type=_size,
                       metavar="COUNT", help="only N or N%% of the discovered nodes")
    group.add_argument("-1", "--one", dest="limit", action="store_const", const="1",
                       help="only one of the discovered nodes (--limit-nodes 1)")
    group.add_argument("--limit-seed", type=_integer, metavar="NUMBER",
                       help="seed for a repeatable random choice of --limit-nodes")
    group.add_argument("--batch", dest="batch", type=_size, metavar="SIZE",
                       help="send to N (or N%%) nodes at a time, waiting for each batch")
    group.add_argument("--batch-sleep", dest="batch_sleep", type=_positive_float,
                       metavar="SECONDS", help="pause between batches (default: config "
                                               "default_batch_sleep_time, 1)")
    group.add_argument("--reply-to", dest="reply_to", metavar="TARGET",
                       help="send replies to TARGET (a reply queue) and do not wait for them")


def extra_opts() -> list[str]:
    """``MCOLLECTIVE_EXTRA_OPTS``: default options added to every application."""
    from mcollective.errors import MCollectiveError

    text = os.environ.get("MCOLLECTIVE_EXTRA_OPTS", "")
    try:
        text.encode("utf-8")
        return shlex.split(text)
    except UnicodeEncodeError:
        raise MCollectiveError("MCOLLECTIVE_EXTRA_OPTS is not valid UTF-8") from None
    except ValueError as exc:  # shlex: an unbalanced quote
        raise MCollectiveError(f"cannot read MCOLLECTIVE_EXTRA_OPTS: {exc}") from None


def discovery_choice(args: argparse.Namespace, *, stdin: Any = None, notify: Any = None,
                     detect_stdin: bool = True) -> tuple[str | None, list[str], str | None]:
    """The discovery method, its options and any piped node list, from the options.

    ``--nodes FILE`` is ``--dm flatfile --do FILE`` (mixing it with another ``--dm`` is
    an error). Without a method and unless the filters name the targets
    (:func:`names_targets`), a node list piped into ``mco`` selects the ``stdin``
    method, and ``notify`` is told so (see
    :func:`mcollective.discovery_methods.piped_stdin` for the care taken).
    Returns ``(method or None for the configured default, options, stdin text)``.
    """
    from mcollective.errors import MCollectiveError

    method = getattr(args, "discovery_method", None)
    opts = list(getattr(args, "discovery_options", None) or [])
    nodes = getattr(args, "nodes", None)
    if nodes:
        if method not in (None, "flatfile"):
            raise MCollectiveError(f"--nodes means --dm flatfile; it cannot be combined "
                                   f"with --dm {method}")
        if opts:
            raise MCollectiveError("--nodes FILE already names the node list; it cannot "
                                   "be combined with --do")
        if not os.access(nodes, os.R_OK):
            raise MCollectiveError(f"--nodes: cannot read {nodes}")
        return "flatfile", [nodes], None
    if method is not None or not detect_stdin or names_targets(args):
        return method, opts, None
    from mcollective.discovery_methods import piped_stdin

    text = piped_stdin(stdin, notify=notify)
    if text is not None:
        if notify is not None:
            notify("using the node list on standard input (chosen automatically: "
                   "standard input is not a terminal); use --dm mc or </dev/null to "
                   "discover on the network instead")
        return "stdin", opts, text
    return None, opts, None


def names_targets(args: argparse.Namespace) -> bool:
    """Whether the filters leave nothing for a piped node list to do: a literal
    ``-I`` names the targets itself (``while read h; do mco rpc ... -I "$h"; done <
    hosts`` must not take the loop's input for a node list), and fact, class, agent,
    ``-W`` and ``-S`` filters are for network discovery (the ``stdin`` method can only
    select identities). Only ``-I /regex/`` selects from a piped list."""
    if any(getattr(args, key, None) for key in ("facts", "classes", "agents", "compound",
                                                  "with_")):
        return True
    return any(not (i.startswith("/") and i.endswith("/") and len(i) > 1)
               for i in getattr(args, "identities", None) or ())
