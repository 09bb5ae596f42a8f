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


def _console_class() -> type[Console]:
    """rich's Console, except that a reader going away (``mco ... | head``) ends the
    command the way :func:`mcollective.cli.main.main` reports it, rather than by
    rich's own ``SystemExit(1)`` (1 means "nothing discovered or an error"). Made on
    first use: rich is imported only when something is printed."""
    global _CONSOLE_CLASS
    if _CONSOLE_CLASS is None:
        from rich.console import Console

        class McoConsole(Console):
            def on_broken_pipe(self) -> None:
                self.quiet = True
                raise BrokenPipeError(32, "the reader of the output went away")

        _CONSOLE_CLASS = McoConsole
    return _CONSOLE_CLASS


_CONSOLE_CLASS: type[Console] | None = None


def _console(stream: Any, *, color: bool = True) -> Console:
    """A console that never cuts lines short when output goes to a pipe or file.
    ``color=False`` (the ``color`` setting) writes no colour or style codes at all;
    rich itself honours ``NO_COLOR`` and ``FORCE_COLOR``."""
    console = _console_class()
    tty = hasattr(stream, "isatty") and stream.isatty()
    if not color:
        return console(file=stream, highlight=False, soft_wrap=True, color_system=None,
                       no_color=True, emoji=False, width=None if tty else 4096)
    # emoji=False: a node's data saying ":ok:" is printed as it is, not as an emoji.
    return console(file=stream, highlight=False, soft_wrap=True, emoji=False,
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
        self._output_file: Any = None
        self._output_file_error: OSError | None = None

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

    def say(self, text: str) -> None:
        """One plain line on standard error. Before anything else was printed there it
        is written directly, without making the console: MCollective's discovery line
        goes out before the request, and importing rich for it would delay the request
        (issue 14)."""
        if self._err is not None:
            self._err.print(text, markup=False, highlight=False)
            return
        stream = self._streams[1] or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    # --- for subclasses -----------------------------------------------------------------

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this application's own options and positional arguments."""

    def main(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

    # --- machinery ------------------------------------------------------------------------

    def build_parser(self) -> argparse.ArgumentParser:
        parser = options.ArgumentParser(
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
        try:
            extra = options.extra_opts()
        except MCollectiveError as exc:
            self.err.print(f"mco {self.name}: {exc}", markup=False, style="red")
            return options.USAGE_ERROR
        args = parse_intermixed(parser, [*argv, *extra])
        self.args = args
        try:
            from mcollective.config import load_config

            self.config = load_config(getattr(args, "config", None), role="client")
            if getattr(args, "connection_timeout", None) is not None:
                self.config.connection_timeout = args.connection_timeout
            if getattr(args, "publish_timeout", None) is not None:
                self.config.publish_timeout = args.publish_timeout
            if getattr(args, "threaded", False):
                self.config.threaded = True  # MCollective's flag; always so here
            if not self.config.color:
                self._color = False
                self._out = self._err = None
            self._setup_logging()
            if getattr(args, "output_file", None):
                self._output_to(args.output_file)
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
        except OSError as exc:
            from mcollective.cli.main import OUTPUT_ERRNOS

            if self._output_file is None or exc.errno not in OUTPUT_ERRNOS:
                raise  # stdout's own trouble is reported by mco's main()
            self._report_output_file(exc)
            return 1
        finally:
            if self._session is not None:
                phases.mark("close")
                self._session.close()
                phases.mark("closed")
            if self._output_file is not None:
                try:
                    self._output_file.close()
                except OSError as exc:  # the results are lost: say so, once
                    self._report_output_file(exc)

    def _report_output_file(self, exc: OSError) -> None:
        if self._output_file_error is None:
            self._output_file_error = exc
            self.err.print(f"mco {self.name}: cannot write the output file "
                           f"{self._output_file.name}: {exc.strerror or exc}",
                           markup=False, style="red")

    def _output_to(self, path: str) -> None:
        """``-o FILE``: results go to FILE (created or truncated now, so that a path
        that cannot be written is reported before anything is sent); messages stay on
        stderr."""
        try:
            handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by run()
        except OSError as exc:
            raise MCollectiveError(f"cannot write the output file {path}: "
                                   f"{exc.strerror or exc}") from None
        self._output_file = handle
        self.out = _console(handle, color=bool(self.config.color))

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

    # --- for applications that call agents and show the replies --------------------------

    def check_agent_name(self, agent: str) -> None:
        """An agent with no DDL here whose name is close to one that has one is taken
        for a typo: refused, with the likely name, before anything is sent (nodes
        without the agent would otherwise leave ``mco`` waiting for the whole timeout).
        Agents unknown here and unlike any known one go out as typed."""
        from mcollective.client.rpc import load_client_ddl

        installed = self.plugins.known_names("agent")
        if agent in installed or load_client_ddl(self.plugins, self.config, agent):
            return
        import difflib

        known = [name for name in installed if name != agent]
        close = difflib.get_close_matches(agent, known, n=1, cutoff=0.75)
        if close:
            raise MCollectiveError(
                f"unknown agent '{agent}': no DDL for it is installed here; did you mean "
                f"'{close[0]}'? Nothing was sent")

    def reply_filter(self) -> Any:
        """The compiled ``--filter-replies`` expression of this run
        (:class:`mcollective.client.reply_filter.ReplyFilter`), or ``None``. Call it
        before sending anything: a mistake in the expression is a one-line error."""
        text = getattr(self.args, "filter_replies", None)
        if text is None:
            return None
        cached = self.__dict__.get("_reply_filter")
        if cached is None or cached.text != text:
            from mcollective.client.reply_filter import ReplyFilter

            cached = self._reply_filter = ReplyFilter(text)
        return cached

    def report_filter_problems(self) -> None:
        """One line on stderr per kind of reply ``--filter-replies`` could not
        evaluate (those replies were left out)."""
        rf = self.__dict__.get("_reply_filter")
        for problem in rf.describe_problems() if rf is not None else ():
            self.err.print(f"mco {self.name}: {problem}", markup=False, style="yellow")

    def explain_silence(self, client: Any, stats: Any) -> None:
        """Nodes asked for an agent with no DDL here that stayed silent may simply not
        have it (a node ignores requests for agents it lacks): say so on stderr."""
        if client.ddl is None and stats.noresponsefrom and not stats.connection_error:
            self.out.file.flush()
            self.err.print(f"mco {self.name}: agent '{client.agent}' has no DDL here; the "
                           "nodes that did not answer may not have it (mco rpc rpcutil "
                           "agent_inventory -I NODE lists a node's agents)",
                           markup=False, style="yellow")

    def discovery_line(self, client: Any, count: int) -> None:
        """MCollective's discovery line, on stderr so stdout stays parseable. When no
        discovery ran (``-I`` naming nodes exactly), it says so instead of claiming a
        wait that did not happen; when the nodes came from the discovery cache, it
        says how old the list is."""
        if getattr(client, "discovery_skipped", False):
            self.say(f"Discovery skipped: the {count} node(s) named are addressed directly")
            return
        age = getattr(client, "cache_age", None)
        if age is not None:  # from the discovery cache: say how old it is
            self.say(f"Discovering hosts using the {client.discovery_method} method: "
                     f"cached {age:.0f}s ago, nodes new since then answer too "
                     f"(--dt to discover now) .... {count}")
            return
        timeout = client.effective_discovery_timeout()
        during = f" for {timeout:g} second(s)" if timeout else ""
        self.say(f"Discovering hosts using the {client.discovery_method} method"
                 f"{during} .... {count}")
