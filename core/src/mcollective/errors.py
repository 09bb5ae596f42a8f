"""Exceptions, grouped by who should see them.

``MCollectiveError`` subclasses are user-facing: the CLI prints their message without a
traceback. The RPC hierarchy maps one to one onto reply status codes.
"""

from __future__ import annotations

from collections.abc import Iterable


class MCollectiveError(Exception):
    """Base of every error that is reported to users as a message, not a traceback."""


class ConfigError(MCollectiveError):
    """A configuration file or value is wrong; the message names file, line and key."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file, self.line, self.key = file, line, key
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        keypart = f"key '{key}': " if key else ""
        super().__init__(f"{where}{keypart}{message}")
        self.bare_message = message


class PluginLoadError(MCollectiveError):
    """A plugin could not be found or loaded; the message names it, its kind, what is
    installed and the closest name."""

    def __init__(
        self, kind: str, name: str, *, installed: Iterable[str] = (),
        distribution: str | None = None, cause: BaseException | None = None,
        hint: str | None = None,
    ) -> None:
        import difflib

        self.kind, self.name, self.distribution, self.cause = kind, name, distribution, cause
        self.installed = sorted(set(installed))
        if cause is None:
            msg = f"no {kind} plugin '{name}'"
        else:
            dist = f" from {distribution}" if distribution else ""
            msg = f"{kind} plugin '{name}'{dist} failed to load: {type(cause).__name__}: {cause}"
        msg += f"; installed: {', '.join(self.installed) if self.installed else 'none'}"
        close = difflib.get_close_matches(name, self.installed, n=1)
        if cause is None and close:
            msg += f"; did you mean '{close[0]}'?"
        elif cause is None and hint:
            msg += f"; {hint}"
        super().__init__(msg)


class ConnectionFailed(MCollectiveError):
    """The middleware could not be reached."""


class SecurityError(MCollectiveError):
    """A message failed verification: bad signature, wrong key, malformed envelope."""


class MessageError(MCollectiveError):
    """A message could not be decoded or does not follow the wire protocol."""


class TTLExpired(MessageError):
    """A request's time lies outside the window its TTL allows."""


class DDLError(MCollectiveError):
    """A DDL file is malformed; the message names the file and the field."""


class DDLValidationError(MCollectiveError):
    """Request data does not satisfy the DDL (client side; status 4 on the server)."""

    def __init__(self, message: str, *, missing: bool = False, input: str | None = None):
        super().__init__(message)
        self.missing = missing
        self.input = input


class ValidatorError(MCollectiveError):
    """A validator plugin rejected a value."""


class FilterSyntaxError(MCollectiveError):
    """A filter expression could not be parsed; carries the position of the problem."""

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        self.text, self.position = text, position
        if position is not None and text:
            message = f"{message} at position {position}:\n  {text}\n  {' ' * position}^"
        super().__init__(message)


# --- RPC errors: raised by agents, mapped to reply status codes ------------------------


class RPCError(MCollectiveError):
    """Base of the errors an action can raise to fail with a status code."""

    statuscode = 5

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.default_message)

    default_message = "Unknown error"


class RPCAborted(RPCError):
    statuscode = 1
    default_message = "Request aborted"


class UnknownRPCAction(RPCError):
    statuscode = 2
    default_message = "Unknown action"


class MissingRPCData(RPCError):
    statuscode = 3
    default_message = "Missing request data"


class InvalidRPCData(RPCError):
    statuscode = 4
    default_message = "Invalid request data"


class UnknownRPCError(RPCError):
    statuscode = 5
    default_message = "Unknown error"


RPC_ERRORS: dict[int, type[RPCError]] = {
    1: RPCAborted, 2: UnknownRPCAction, 3: MissingRPCData, 4: InvalidRPCData, 5: UnknownRPCError,
}

STATUS_LABELS: dict[int, str] = {
    0: "OK",
    1: "Request Aborted",
    2: "Unknown Action",
    3: "Missing Request Data",
    4: "Invalid Request Data",
    5: "Unknown Request Status",
}


def rpc_error_for(code: int, message: str) -> RPCError:
    """The exception an action raises to fail with ``code``."""
    return RPC_ERRORS.get(code, UnknownRPCError)(message)
