"""Base class of ``mco`` applications.

An application is a plugin in ``mcollective.applications``; its entry point names the
class, which implements the hook itself. It declares which shared option groups it takes,
adds its own options, and implements :meth:`Application.main`, returning the exit code.
User mistakes (:class:`MCollectiveError`) are printed as one line; tracebacks only with
``-v``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any, ClassVar

from mcollective import phases
from mcollective.cli import options
from mcollective.errors import MCollectiveError
from mcollective.hookspecs import hookimpl
from mcollective.plugins import PluginManager

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)


def parse_intermixed(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Options may come anywhere, as users type them: ``mco rpc AGENT ACTION --dt 2
    key=value`` (plain argparse stops collecting positionals at the first option)."""
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subcommands:
        _share_options(parser, subcommands)
        return parser.parse_args(argv)
    return parser.parse_intermixed_args(argv)


def _share_options(parser: argparse.ArgumentParser,
                   subcommands: list[argparse._SubParsersAction]) -> None:
    """Let the command's options follow its subcommand too (``mco plugin doc NAME -c
    FILE``), as MCollective accepted them: each subcommand parser gets a copy of every
    option it does not define itself, defaulting to SUPPRESS so that an option given
    before the subcommand is not reset by the subcommand's parser."""
    import copy

    shared = [a for a in parser._actions if a.option_strings
              and not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]
    for action in subcommands:
        for sub in set(action.choices.values()):
            for option in shared:
                if any(s in sub._option_string_actions for s in option.option_strings):
                    continue
                twin = copy.copy(option)
                twin.default = argparse.SUPPRESS
                sub._add_action(twin)


def _console(stream: Any, *, color: bool = True) -> Console:
    """A console that never cuts lines short when output goes to a pipe or file.
    ``color=False`` (the ``color`` setting) writes no colour or style codes at all;
    rich itself honours ``NO_COLOR`` and ``FORCE_COLOR``."""
    from rich.console import Console

    tty = hasattr(stream, "isatty") and stream.isatty()
    if not color:
        return Console(file=stream, highlight=False, soft_wrap=True, color_system=None,
                       no_color=True, width=None if tty else 4096)
    return Console(file=stream, highlight=False, soft_wrap=True,
                   width=None if tty else 4096)


class Application:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    usage: ClassVar[str | None] = None
    epilog: ClassVar[str | None] = None
    #: Shared option groups: any of "common", "filter", "rpc".
    option_sections: ClassVar[tuple[str, ...]] = ("common", "filter")

    @hookimpl
    @classmethod
    def mco_application_class(cls) -> type[Application]:
        return cls

    def __init__(self, plugins: PluginManager, *, stdout: Any = None, stderr: Any = None
                 ) -> None:
        self.plugins = plugins
        # Consoles are made on first use: importing rich costs a fifth of a start-up,
        # better spent after the request went out.
        self._streams = (stdout, stderr)
        self._color = True
        self._out: Console | None = None
        self._err: Console | None = None
        self._session: Any = None
        self.config: Any = None
        self.args: argparse.Namespace = argparse.Namespace()
        #: Set by an application that reported a middleware failure itself, with the
        #: nodes it affected; otherwise :meth:`run` warns about one at the end.
        self.link_reported = False

    @property
    def out(self) -> Console:
        """Standard output, as a rich console."""
        if self._out is None:
            self._out = _console(self._streams[0] or sys.stdout, color=self._color)
        return self._out

    @out.setter
    def out(self, console: Console) -> None:
        self._out = console

    @property
    def err(self) -> Console:
        """Standard error, as a rich console."""
        if self._err is None:
            self._err = _console(self._streams[1] or sys.stderr, color=self._color)
        return self._err

    @err.setter
    def err(self, console: Console) -> None:
        self._err = console

    # --- for subclasses -----------------------------------------------------------------

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this application's own options and positional arguments."""

    def main(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

    # --- machinery ------------------------------------------------------------------------

    def build_parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=f"mco {self.name}", description=self.description, usage=self.usage,
            epilog=self.epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_arguments(parser)
        options.add_always(parser)
        if "common" in self.option_sections:
            options.add_common(parser)
        if "filter" in self.option_sections:
            options.add_filters(parser)
        if "rpc" in self.option_sections:
            options.add_rpc(parser)
        return parser

    def run(self, argv: list[str]) -> int:
        parser = self.build_parser()
        args = parse_intermixed(parser, [*argv, *options.extra_opts()])
        self.args = args
        try:
            from mcollective.config import load_config

            self.config = load_config(getattr(args, "config", None), role="client")
            if getattr(args, "connection_timeout", None) is not None:
                self.config.connection_timeout = args.connection_timeout
            if not self.config.color:
                self._color = False
                self._out = self._err = None
            self._setup_logging()
            phases.mark("setup_done")
            code = int(self.main(args) or 0)
            phases.mark("output")
            self._warn_about_the_link()
            return code
        except MCollectiveError as exc:
            if args.verbose:
                traceback.print_exc(file=sys.stderr)
            self.err.print(f"mco {self.name}: {exc}", markup=False, style="red")
            return 1
        except KeyboardInterrupt:
            self.err.print("interrupted", style="red")
            return 130
        finally:
            if self._session is not None:
                phases.mark("close")
                self._session.close()
                phases.mark("closed")

    def _warn_about_the_link(self) -> None:
        """A broker failure during the command loses the replies sent meanwhile: say
        so, in one line, if the application did not (its output may be short)."""
        if self._session is None or self.link_reported:
            return
        from mcollective.client.session import LinkMark

        trouble = self._session.link_trouble(LinkMark())
        if trouble:
            self.out.file.flush()
            self.err.print(f"mco {self.name}: warning: {trouble} during this command; "
                           "replies sent meanwhile were lost", markup=False, style="red")

    def _setup_logging(self) -> None:
        from mcollective.log import setup_logging

        if self.config.logger_type == "file" and self.config.logfile:
            setup_logging(self.config)
        else:
            # On a terminal only warnings and errors; debug output goes to a log file.
            setup_logging(self.config, level="warn"
                          if self.config.loglevel in ("debug", "info") else None)

    # --- helpers ----------------------------------------------------------------------

    @property
    def session(self) -> Any:
        if self._session is None:
            from mcollective.client.session import ClientSession

            self._session = ClientSession(self.config, plugins=self.plugins)
        return self._session

    def rpcclient(self, agent: str, *, stdin_discovery: bool = True) -> Any:
        """An RPCClient set up from the shared options of this run (filters,
        discovery, targeting). Filters are checked first, so a mistake is reported
        before ``mco`` waits for a node list piped into it; ``stdin_discovery=False``
        for applications that never address a node list (ping)."""
        from mcollective.client.rpc import RPCClient

        args = self.args
        client = RPCClient(
            agent, session=self.session, collective=getattr(args, "target", None),
            timeout=getattr(args, "timeout", None),
            discovery_timeout=getattr(args, "discovery_timeout", None),
            discovery_window=getattr(args, "discovery_window", None),
            ttl=getattr(args, "ttl", None), limit=getattr(args, "limit", None),
            limit_seed=getattr(args, "limit_seed", None),
            batch_size=getattr(args, "batch", None),
            batch_sleep_time=getattr(args, "batch_sleep", None),
            reply_to=getattr(args, "reply_to", None),
        )
        self.apply_filters(client)
        method, discovery_options, piped = options.discovery_choice(
            args, detect_stdin=stdin_discovery,
            notify=lambda text: self.err.print(f"mco {self.name}: {text}", markup=False))
        if method is not None:
            client.discovery_method = method
        if discovery_options:
            client.discovery_options = discovery_options
        if piped is not None:
            client.stdin = piped
        return client

    def apply_filters(self, client: Any) -> None:
        args = self.args
        for fact in getattr(args, "facts", []):
            client.fact_filter(fact)
        for klass in getattr(args, "classes", []):
            client.class_filter(klass)
        for agent in getattr(args, "agents", []):
            client.agent_filter(agent)
        for identity in getattr(args, "identities", []):
            client.identity_filter(identity)
        for expression in getattr(args, "compound", []):
            client.compound_filter(expression)
        for words in getattr(args, "with_", []):
            client.with_filter(words)

    def discovery_line(self, client: Any, count: int) -> None:
        """MCollective's discovery line, on stderr so stdout stays parseable. When no
        discovery ran (``-I`` naming nodes exactly), it says so instead of claiming a
        wait that did not happen; when the nodes came from the discovery cache, it
        says how old the list is."""
        if getattr(client, "discovery_skipped", False):
            self.err.print(f"Discovery skipped: the {count} node(s) named are addressed "
                           "directly", markup=False)
            return
        age = getattr(client, "cache_age", None)
        if age is not None:  # from the discovery cache: say how old it is
            self.err.print(f"Discovering hosts using the {client.discovery_method} method: "
                           f"cached {age:.0f}s ago, nodes new since then answer too "
                           f"(--dt to discover now) .... {count}", markup=False)
            return
        timeout = client.effective_discovery_timeout()
        during = f" for {timeout:g} second(s)" if timeout else ""
        self.err.print(f"Discovering hosts using the {client.discovery_method} method"
                       f"{during} .... {count}", markup=False)
