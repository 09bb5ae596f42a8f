"""``mco security``: make keys, issue tokens and inspect them.

::

    mco security keygen --out FILE
    mco security issue client --issuer-key FILE --caller alice --agents 'rpcutil.*' \\
        --public-key HEX|FILE [--validity 1h] [--out FILE]
    mco security issue server --issuer-key FILE --identity node1 \\
        --collectives mcollective --public-key HEX|FILE [--validity 90d] [--out FILE]
    mco security inspect [TOKEN_OR_FILE] [--issuer-public-key KEY] [--json]

None of this talks to the middleware, so it needs no client configuration; ``inspect``
reads ``plugin.jwt.token`` and ``plugin.jwt.issuer_public_key`` from it when there is one
and they are not given on the command line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from mcollective.cli.application import Application
from mcollective.config import load_config
from mcollective.errors import ConfigError, MCollectiveError
from mcollective_security_jwt import allowlist, keys, tokens
from mcollective_security_jwt.settings import JwtSettings
from mcollective_security_jwt.timefmt import parse_duration, relative, when

DEFAULT_CLIENT_VALIDITY = "1h"
# Three base64url segments: a token given inline rather than as a file.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
DEFAULT_SERVER_VALIDITY = "90d"


class CommandError(MCollectiveError):
    """A mistake on the command line; printed as one line."""


def _duration(text: str) -> Any:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _always(parser: argparse.ArgumentParser) -> None:
    # On every leaf command, so that they work after the subcommand names.
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="client configuration to read plugin.jwt.* defaults from")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="tracebacks with errors")


def _read_token_arg(value: str) -> tuple[str, str]:
    """(token, where it came from) for a token given inline or as a file."""
    path = Path(value).expanduser()
    try:
        is_file = path.is_file()
    except OSError:  # a name too long to be a path
        is_file = False
    if is_file:
        try:
            return keys.read_file(path).decode("utf-8", "replace").strip(), str(path)
        except keys.KeyFileError as exc:
            raise CommandError(str(exc)) from None
    if _JWT_SHAPE.fullmatch(value.strip()):
        return value.strip(), "the command line"
    raise CommandError(f"{value!r} is neither a token nor an existing file")


def _status(report: dict[str, Any]) -> str:
    if not report["problems"]:
        return "valid" + (" (issuer not checked)" if report["issuer"] == "not checked"
                          else "")
    found = [report["validity"]] if report["validity"] != "valid" else []
    if report["issuer"] in ("not trusted", "forged"):
        found.append(report["issuer"])
    return "UNUSABLE: " + ", ".join(found)


class Security(Application):
    name = "security"
    description = "Keys and tokens for the jwt security plugin: keygen, issue, inspect"
    option_sections = ()

    def build_parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="mco security", description=self.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog="Run 'mco security COMMAND --help' for the options of a command.")
        commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

        keygen = commands.add_parser(
            "keygen", help="make an ed25519 key pair",
            description="Write an ed25519 private key to FILE (mode 0600) and its public "
                        "key, 64 hex characters, to FILE.pub; print the public key.")
        keygen.add_argument("--out", required=True, type=Path, metavar="FILE",
                            help="where to write the private key")
        keygen.add_argument("--force", action="store_true", help="replace existing files")
        _always(keygen)
        keygen.set_defaults(handler=self.keygen)

        issue = commands.add_parser("issue", help="issue a client or server token")
        kinds = issue.add_subparsers(dest="kind", metavar="KIND", required=True)
        client = kinds.add_parser(
            "client", help="a token for a person or a tool using mco",
            description="Issue a client token: who the caller is and what it may call.")
        client.add_argument("--caller", required=True, metavar="NAME",
                            help="caller id: 'kind=name', or a bare name for 'jwt=NAME'")
        client.add_argument("--agents", required=True, metavar="LIST",
                            help="comma-separated allow list: '*', 'AGENT.*', "
                                 "'AGENT.ACTION' (discovery is always allowed)")
        client.add_argument("--validity", type=_duration,
                            default=parse_duration(DEFAULT_CLIENT_VALIDITY),
                            metavar="DURATION",
                            help=f"how long it is valid (default {DEFAULT_CLIENT_VALIDITY}; "
                                 "e.g. 30m, 8h, 7d)")
        client.add_argument("--delegator", action="store_true",
                            help="let the holder sign requests on behalf of other callers "
                                 "(for a web console: mcollective-web)")
        server = kinds.add_parser(
            "server", help="a token for a node running mcollectived",
            description="Issue a server token: the node's identity and its collectives.")
        server.add_argument("--identity", required=True, metavar="IDENTITY",
                            help="the node's identity (its 'identity' config key)")
        server.add_argument("--collectives", default="mcollective", metavar="LIST",
                            help="comma-separated collectives the node may join "
                                 "(default mcollective)")
        server.add_argument("--validity", type=_duration,
                            default=parse_duration(DEFAULT_SERVER_VALIDITY),
                            metavar="DURATION",
                            help=f"how long it is valid (default {DEFAULT_SERVER_VALIDITY})")
        for sub in (client, server):
            sub.add_argument("--issuer-key", required=True, type=Path, metavar="FILE",
                             help="the organisation issuer's private key")
            sub.add_argument("--public-key", required=True, metavar="HEX|FILE",
                             help="the holder's public key: 64 hex characters or its "
                                  ".pub file")
            sub.add_argument("--out", type=Path, metavar="FILE",
                             help="write the token here (default: print it)")
            sub.add_argument("--force", action="store_true",
                             help="replace an existing --out file")
            _always(sub)
            sub.set_defaults(handler=self.issue)

        inspect = commands.add_parser(
            "inspect", help="show a token's claims and whether it is valid",
            description="Show a token's claims, its validity window and whether a trusted "
                        "issuer signed it. Exit code 0 only for a usable token.")
        inspect.add_argument("token", nargs="?", metavar="TOKEN_OR_FILE",
                             help="a token or a file holding one (default: plugin.jwt.token)")
        inspect.add_argument("--issuer-public-key", action="append", default=[],
                             metavar="KEY", help="trusted issuer public key (hex or file); "
                             "repeatable (default: plugin.jwt.issuer_public_key)")
        inspect.add_argument("-j", "--json", action="store_true", help="JSON output")
        _always(inspect)
        inspect.set_defaults(handler=self.inspect)
        return parser

    def run(self, argv: list[str]) -> int:
        # No middleware, so no client configuration is needed (as core's plugins/help).
        args = self.build_parser().parse_args(argv)
        self.args = args
        try:
            return int(args.handler(args) or 0)
        except (MCollectiveError, ValueError) as exc:
            if args.verbose:
                traceback.print_exc(file=sys.stderr)
            self.err.print(f"mco security: {exc}", markup=False, style="red")
            return 1
        except KeyboardInterrupt:
            self.err.print("interrupted", style="red")
            return 130

    # --- keygen ---------------------------------------------------------------------

    def keygen(self, args: argparse.Namespace) -> int:
        key = keys.generate()
        pub = keys.write_key_pair(args.out, key, force=args.force)
        self.err.print(f"private key written to {args.out} (keep it there, mode 0600); "
                       f"public key to {pub}", markup=False)
        self.out.print(keys.public_hex(key), markup=False)
        return 0

    # --- issue ----------------------------------------------------------------------

    def issue(self, args: argparse.Namespace) -> int:
        issuer_key = keys.load_private_key(args.issuer_key)
        public = keys.public_hex(keys.public_key_of(args.public_key))
        if args.kind == "client":
            raw = tokens.issue_client(issuer_key, callerid=args.caller,
                                      agents=allowlist.parse(args.agents),
                                      public_key=public, validity=args.validity,
                                      delegator=args.delegator)
        else:
            collectives = [c.strip() for c in args.collectives.split(",") if c.strip()]
            raw = tokens.issue_server(issuer_key, identity=args.identity,
                                      collectives=collectives, public_key=public,
                                      validity=args.validity)
        token = tokens.parse(raw)
        if args.out is None:
            self.out.print(raw, markup=False, soft_wrap=True)
        else:
            keys.write_new(args.out, (raw + "\n").encode("ascii"), 0o644, force=args.force)
        self.err.print(f"issued {token.describe()}, valid until {when(token.expires)}"
                       + (f", written to {args.out}" if args.out else ""), markup=False)
        return 0

    # --- inspect --------------------------------------------------------------------

    def _configured(self, args: argparse.Namespace) -> dict[str, Any]:
        """``plugin.jwt.*`` of the client configuration, if there is one. Only an
        explicitly named configuration file must load."""
        try:
            config = load_config(args.config, role="client")
            settings = JwtSettings.from_config(config)
        except ConfigError:
            if args.config:
                raise
            return {}
        out: dict[str, Any] = {"config": config}
        if settings.token:
            out["token"] = str(config.resolve_path(settings.token))
        if settings.issuer_public_keys:
            out["issuers"] = list(settings.issuer_public_keys)
        return out

    def inspect(self, args: argparse.Namespace) -> int:
        configured: dict[str, Any] = {}
        if args.token is None or not args.issuer_public_key:
            configured = self._configured(args)
        spec = args.token or configured.get("token")
        if spec is None:
            raise CommandError("give a token or a token file (no plugin.jwt.token is "
                               "configured)")
        raw, source = _read_token_arg(spec)
        try:
            token = tokens.parse(raw)
        except tokens.TokenError as exc:
            raise CommandError(f"{source}: {exc}; it cannot be used, issue a new one with "
                               "'mco security issue client|server ...'") from None
        report = self._report(token, source, args, configured)
        if args.json:
            self.out.print(json.dumps(report, indent=2, sort_keys=True), markup=False)
        else:
            self._print_report(token, report)
        for problem in report["problems"]:
            self.err.print(f"mco security: {problem}", markup=False, style="red")
        return 1 if report["problems"] else 0

    def _report(self, token: tokens.Token, source: str, args: argparse.Namespace,
                configured: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        problems: list[str] = []
        specs = [s.strip() for item in args.issuer_public_key for s in item.split(",")
                 if s.strip()]
        resolve = Path
        if not specs and "issuers" in configured:
            specs = configured["issuers"]
            resolve = configured["config"].resolve_path
        if specs:
            issuers = tokens.Issuers(keys.load_public_key(s, resolve) for s in specs)
            try:
                issuers.verify(token.raw)
                issuer_status = "trusted"
            except tokens.WrongIssuer as exc:
                issuer_status = "not trusted"
                problems.append(str(exc))
            except tokens.TokenError as exc:
                issuer_status = "forged"
                problems.append(str(exc))
        else:
            issuer_status = "not checked"
        try:
            token.check_time(now)
            validity = "valid"
        except tokens.TokenExpired as exc:
            validity = "expired"
            problems.append(str(exc))
        except tokens.TokenNotYetValid as exc:
            validity = "not yet valid"
            problems.append(str(exc))
        return {"source": source, "claims": dict(token.claims), "issuer": issuer_status,
                "validity": validity, "problems": problems}

    def _print_report(self, token: tokens.Token, report: dict[str, Any]) -> None:
        now = time.time()
        rows = [("token", f"{token.describe()} from {report['source']}")]
        if token.purpose == tokens.PURPOSE_CLIENT:
            rows += [("caller id", token.callerid or ""),
                     ("agents", allowlist.describe(token.agents)
                      + ("" if not token.agents else " (and discovery)"))]
            if token.delegator:
                rows.append(("delegator", "yes: may sign on behalf of other callers"))
        else:
            rows += [("identity", token.identity or ""),
                     ("collectives", ", ".join(token.collectives))]
        issuer_note = {"trusted": "OK, a trusted issuer",
                       "not trusted": "NOT a trusted issuer",
                       "forged": "FORGED: the issuer's signature does not verify",
                       "not checked": "not checked (give --issuer-public-key)"}
        rows += [
            ("public key", token.public_key_hex),
            ("issuer", f"{token.issuer} ({issuer_note[report['issuer']]})"),
            ("issued at", when(token.issued_at)),
            ("valid from", relative(token.not_before, now)),
            ("expires", relative(token.expires, now)),
            ("status", _status(report)),
        ]
        for label, value in rows:
            self.out.print(f"{label + ':':<13}{value}", markup=False)
