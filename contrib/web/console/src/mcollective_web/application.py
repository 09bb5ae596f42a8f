"""``mco web``: the web console and REST gateway, and its accounts.

::

    mco web [--listen 127.0.0.1:8080] [--tls-cert FILE --tls-key FILE]   serve
    mco web useradd NAME [--admin] [--caller KIND=NAME] [--token FILE]  add an account
    mco web passwd NAME                                                  set a password
    mco web userdel NAME                                                 remove an account
    mco web users                                                        list accounts
    mco web prove CHALLENGE                                      sign in with jwt or x509

Importing this module imports nothing of the web stack: ``mco`` lists and starts its
applications without paying for FastAPI; only serving imports it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from mcollective.cli.application import Application
from mcollective.errors import MCollectiveError

COMMANDS = ("serve", "useradd", "passwd", "userdel", "users", "prove")


class Web(Application):
    name = "web"
    description = "Web console and REST gateway: discovery, inventory and RPC in a browser"
    usage = ("mco web [serve] [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE]\n"
             "       mco web useradd|passwd|userdel NAME\n"
             "       mco web users\n"
             "       mco web prove CHALLENGE")
    epilog = ("The console signs each user's requests in that user's name; see "
              "docs/web.md for accounts, security plugins and every plugin.web setting.")
    option_sections = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("command", nargs="?", default="serve", choices=COMMANDS,
                            help="what to do (default: serve)")
        parser.add_argument("argument", nargs="?", metavar="NAME|CHALLENGE",
                            help="the user (useradd, passwd, userdel) or the challenge "
                                 "(prove)")
        serve = parser.add_argument_group("serving")
        serve.add_argument("--listen", metavar="HOST:PORT",
                           help="address to listen on (default: plugin.web.listen, "
                                "127.0.0.1:8080)")
        serve.add_argument("--tls-cert", metavar="FILE", help="TLS certificate (PEM)")
        serve.add_argument("--tls-key", metavar="FILE", help="TLS private key (PEM)")
        serve.add_argument("--insecure-http", action="store_true", default=None,
                           help="allow plain HTTP on an address other than loopback")
        serve.add_argument("--state", metavar="DIR",
                           help="where the history, sessions and saved filters are kept "
                                "(default: STATEDIR/web)")
        accounts = parser.add_argument_group("accounts")
        accounts.add_argument("--users", metavar="FILE",
                              help="the accounts file (default: STATEDIR/web/users.yaml)")
        accounts.add_argument("--admin", action="store_true",
                              help="useradd: the user sees everybody's history")
        accounts.add_argument("--caller", metavar="KIND=NAME",
                              help="useradd: the caller id nodes see (default user=NAME)")
        accounts.add_argument("--token", metavar="FILE",
                              help="useradd: the user's jwt client token, or x509 "
                                   "certificate (PEM), for delegated signing")
        accounts.add_argument("--password-stdin", action="store_true",
                              help="read the password from the first line of stdin")

    def settings(self, args: argparse.Namespace) -> Any:
        from mcollective_web.settings import WebSettings

        return WebSettings.from_config(
            self.config, listen=args.listen, tls_cert=args.tls_cert, tls_key=args.tls_key,
            insecure_http=args.insecure_http, state_dir=args.state, users_file=args.users)

    def main(self, args: argparse.Namespace) -> int:
        if args.command == "serve":
            if args.argument:
                raise MCollectiveError(f"unexpected argument {args.argument!r}; "
                                       "see mco web --help")
            from mcollective_web.server import serve

            return serve(self.config, self.settings(args), out=self.err)
        if args.command == "prove":
            return self.prove(args)
        return self.accounts(args)

    # --- accounts ------------------------------------------------------------------------

    def _password(self, args: argparse.Namespace) -> str:
        if args.password_stdin:
            line = sys.stdin.readline()
            return line.rstrip("\r\n")
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise MCollectiveError("the passwords differ")
        return first

    def accounts(self, args: argparse.Namespace) -> int:
        from mcollective_web.accounts import Accounts

        settings = self.settings(args)
        accounts = Accounts(settings.users_file)
        if args.command == "users":
            for account in accounts.users().values():
                extra = " admin" if account.admin else ""
                token = f" token={account.token_file}" if account.token_file else ""
                self.out.print(f"{account.name} caller={account.caller}{extra}{token}",
                               markup=False)
            return 0
        if not args.argument:
            raise MCollectiveError(f"mco web {args.command} needs a user name")
        name = args.argument
        if args.command == "useradd":
            caller = args.caller or (self._token_caller(args.token) if args.token else None)
            account = accounts.add(name, self._password(args), caller=caller,
                                   admin=args.admin, token=args.token)
            self.out.print(f"added {account.name} (caller {account.caller}) to "
                           f"{settings.users_file}", markup=False)
        elif args.command == "passwd":
            accounts.set_password(name, self._password(args))
            self._end_sessions(settings, name)
            self.out.print(f"password of {name} changed", markup=False)
        elif args.command == "userdel":
            accounts.remove(name)
            self._end_sessions(settings, name)
            self.out.print(f"removed {name}", markup=False)
        return 0

    @staticmethod
    def _token_caller(path: str) -> str | None:
        """The caller id a jwt token, or an x509 certificate (``cert=<common name>``),
        names: the account's caller unless --caller says otherwise (the console can
        only sign for the credential's caller)."""
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise MCollectiveError(f"--token {path}: {getattr(exc, 'strerror', exc)}"
                                   ) from None
        if "-----BEGIN CERTIFICATE-----" in text:
            try:
                from cryptography import x509

                from mcollective_security_x509.pki import CertificateError, certname
            except ImportError:
                return None
            try:
                cert = x509.load_pem_x509_certificate(text.encode("ascii", "replace"))
                return f"cert={certname(cert)}"
            except (ValueError, CertificateError) as exc:
                raise MCollectiveError(f"--token {path}: {exc}") from None
        try:
            from mcollective_security_jwt.tokens import TokenError, parse
        except ImportError:
            return None
        try:
            return parse(text).callerid
        except TokenError as exc:
            raise MCollectiveError(f"--token {path}: {exc}") from None

    @staticmethod
    def _end_sessions(settings: Any, name: str) -> None:
        """A new password or a removed account ends the user's sessions."""
        path = settings.state_dir / "console.sqlite"
        if path.exists():
            from mcollective_web.store import Store

            store = Store(path)
            try:
                store.end_sessions_of(name)
            finally:
                store.close()

    # --- identity proofs -------------------------------------------------------------

    def prove(self, args: argparse.Namespace) -> int:
        """Answer a console's challenge with this user's own credentials."""
        if not args.argument:
            raise MCollectiveError("mco web prove needs the challenge the console shows")
        security = self.plugins.create_security(self.config, "client")
        print(security.identity_proof(args.argument), file=self.out.file)
        return 0
