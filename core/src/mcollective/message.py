"""The wire protocol: requests, replies and the secure layer around them.

JSON at every layer, each layer versioned by its ``protocol`` field and described by a
JSON Schema in ``docs/schemas/``. The security plugin signs the *whole* serialised
request (filter, agent, collective, ttl and time included) and the whole reply; the
secure layer carries those exact bytes as a JSON string so that verification sees
byte-for-byte what was signed.
"""

from __future__ import annotations

import json
import math
import re
import time as _time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcollective.errors import MessageError

REQUEST_PROTOCOL = "mcollective:request:1"
REPLY_PROTOCOL = "mcollective:reply:1"
SECURE_REQUEST_PROTOCOL = "mcollective:secure:request:1"
SECURE_REPLY_PROTOCOL = "mcollective:secure:reply:1"

FILTER_KEYS = ("fact", "cf_class", "agent", "identity", "compound")


def new_request_id() -> str:
    """32 lowercase hex characters, as MCollective and Choria use."""
    return uuid.uuid4().hex


_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def empty_filter() -> dict[str, list[Any]]:
    return {key: [] for key in FILTER_KEYS}


# Every message is decoded and encoded twice (payload and secure layer) on both sides,
# so the codec is orjson, several times faster than the standard library. Where orjson
# refuses something, the standard library decides: integers beyond 64 bits, non-string
# keys and lone surrogates when writing; NaN literals, lone surrogate escapes and
# numbers too large for a double when reading. As in most JSON implementations (and
# RFC 8259's advice), an integer beyond 64 bits but within a double's range reads as a
# float. NaN and infinities are written as null (the standard library would refuse the
# whole message).


def _std_dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _dumps_bytes(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return _std_dumps(obj).encode("utf-8")


def _dumps(obj: Any) -> str:
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:
        return _std_dumps(obj)


def _loads(data: bytes | str, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # the standard library accepts a little more, or explains better
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise MessageError(f"{what} is not valid UTF-8: {exc.reason}") from None
    except (ValueError, RecursionError) as exc:
        raise MessageError(f"{what} is not valid JSON: {exc}") from None


def _need(obj: Mapping[str, Any], key: str, types: type | tuple[type, ...], what: str) -> Any:
    if key not in obj:
        raise MessageError(f"{what} has no '{key}'")
    value = obj[key]
    if type(value) is types:  # the usual case, on every message a node or client reads
        return value
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types,))):
        raise MessageError(f"{what} field '{key}' has the wrong type ({type(value).__name__})")
    return value


def _timestamp(obj: Mapping[str, Any], what: str) -> float:
    value = _need(obj, "time", (int, float), what)
    try:
        stamp = float(value)
    except OverflowError:
        raise MessageError(f"{what} time {value!r} is out of range") from None
    if not math.isfinite(stamp):
        raise MessageError(f"{what} time is not a finite number")
    return stamp


def _check_filter(value: Any) -> dict[str, list[Any]]:
    if type(value) is dict and len(value) == len(FILTER_KEYS):
        # The usual case (every key, as clients send it): the same result, directly.
        get = value.get
        fact, cf_class, agent, identity, compound = (
            get("fact"), get("cf_class"), get("agent"), get("identity"), get("compound"))
        if (type(fact) is list and type(cf_class) is list and type(agent) is list
                and type(identity) is list and type(compound) is list):
            return {"fact": fact, "cf_class": cf_class, "agent": agent,
                    "identity": identity, "compound": compound}
    if not isinstance(value, dict):
        raise MessageError("request filter must be an object")
    out = empty_filter()
    for key, items in value.items():
        if key == "puppet_class":  # the original's old name for cf_class
            key = "cf_class"
        if key not in FILTER_KEYS:
            raise MessageError(f"request filter has unknown key '{key}'")
        if not isinstance(items, list):
            raise MessageError(f"request filter '{key}' must be a list")
        out[key] = items
    return out


#: Bounds of request fields (docs/security.md, "Bounds"), in UTF-8 bytes. 255 is
#: AMQP's limit for a routing key or a queue name (a ``reply_to`` or an agent name
#: over it made RabbitMQ close the node's publishing connection, losing every other
#: caller's replies in flight); ``caller`` holds longer certificate and token names.
FIELD_BOUNDS: dict[str, int] = {
    "reply_to": 255, "agent": 255, "collective": 255, "sender": 255, "action": 255,
    "caller": 1024,
}
#: Most values a request filter may carry (all keys together).
MAX_FILTER_VALUES = 1000
#: ``max_ttl``'s default: the longest a request may stay valid (seconds).
DEFAULT_MAX_TTL = 3600


def request_bounds_error(request: Request, max_ttl: int) -> str | None:
    """Why ``request`` breaks a documented bound (one line naming the field and the
    bound), or None. Checked by the client before signing and by every node on
    receipt, after verification: a node counts such a request (``outofbounds``) and
    drops it without answering."""
    if request.ttl > max_ttl:
        digits = str(request.ttl) if request.ttl < 10 ** 30 else ""
        shown = digits or f"a {len(str(request.ttl))}-digit number of"
        return (f"request field 'ttl' is {shown} seconds, above the maximum of "
                f"{max_ttl} (max_ttl)")
    values: tuple[tuple[str, str | None], ...] = (
        ("reply_to", request.reply_to), ("agent", request.agent),
        ("collective", request.collective), ("sender", request.sender),
        ("action", request.action), ("caller", request.caller))
    for name, value in values:
        if value is None:
            continue
        bound = FIELD_BOUNDS[name]
        # No character takes more than 4 UTF-8 bytes (3 for a lone surrogate): a short
        # value is within its bound without being encoded.
        if len(value) * 4 <= bound:
            continue
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > bound:
            return (f"request field '{name}' is {size} bytes long, above the maximum of "
                    f"{bound}")
    count = sum(len(v) for v in request.filter.values())
    if count > MAX_FILTER_VALUES:
        return (f"request field 'filter' has {count} values, above the maximum of "
                f"{MAX_FILTER_VALUES}")
    return None


@dataclass
class Request:
    """One request as the client built and signed it."""

    agent: str
    collective: str
    sender: str
    caller: str
    message: dict[str, Any]
    filter: dict[str, list[Any]] = field(default_factory=empty_filter)
    ttl: int = 60
    time: float = field(default_factory=lambda: round(_time.time(), 3))
    id: str = field(default_factory=new_request_id)
    reply_to: str | None = None
    protocol: str = REQUEST_PROTOCOL

    @property
    def action(self) -> str | None:
        action = self.message.get("action") if isinstance(self.message, dict) else None
        return action if isinstance(action, str) else None

    @property
    def data(self) -> dict[str, Any]:
        data = self.message.get("data") if isinstance(self.message, dict) else None
        return data if isinstance(data, dict) else {}

    @property
    def process_results(self) -> bool:
        return bool(self.message.get("process_results", True))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "protocol": self.protocol, "id": self.id, "sender": self.sender,
            "caller": self.caller, "collective": self.collective, "agent": self.agent,
            "ttl": self.ttl, "time": self.time, "filter": self.filter,
            "message": self.message,
        }
        if self.reply_to is not None:
            out["reply_to"] = self.reply_to
        return out

    def to_json(self) -> str:
        return _dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any) -> Request:
        fast = cls._from_valid_dict(obj)
        if fast is not None:
            return fast
        what = "request"
        if not isinstance(obj, dict):
            raise MessageError("request must be a JSON object")
        protocol = _need(obj, "protocol", str, what)
        if protocol != REQUEST_PROTOCOL:
            raise MessageError(f"unsupported request protocol {protocol!r}")
        rid = _need(obj, "id", str, what)
        if _REQUEST_ID.fullmatch(rid) is None:
            raise MessageError("request id must be 32 lowercase hex characters")
        ttl = _need(obj, "ttl", int, what)
        if ttl < 1:
            raise MessageError("request ttl must be at least 1")
        reply_to = obj.get("reply_to")
        if reply_to is not None and not isinstance(reply_to, str):
            raise MessageError("request field 'reply_to' must be a string")
        message = _need(obj, "message", dict, what)
        if not isinstance(message.get("action", ""), str):
            raise MessageError("request message 'action' must be a string")
        if not isinstance(message.get("data", {}), dict):
            raise MessageError("request message 'data' must be an object")
        return cls(
            agent=_need(obj, "agent", str, what),
            collective=_need(obj, "collective", str, what),
            sender=_need(obj, "sender", str, what),
            caller=_need(obj, "caller", str, what),
            message=message,
            filter=_check_filter(obj.get("filter", {})),
            ttl=ttl,
            time=_timestamp(obj, what),
            id=rid,
            reply_to=reply_to,
        )

    @classmethod
    def _from_valid_dict(cls, obj: Any) -> Request | None:
        """:meth:`from_dict`'s result for the usual request (every field present, of
        its exact JSON type, and valid), checked in one expression; None for anything
        else, which :meth:`from_dict` then checks field by field (and explains)."""
        if type(obj) is not dict:
            return None
        get = obj.get
        message, rid, ttl, stamp = get("message"), get("id"), get("ttl"), get("time")
        agent, collective, sender, caller = (get("agent"), get("collective"), get("sender"),
                                             get("caller"))
        reply_to = get("reply_to")
        if not (get("protocol") == REQUEST_PROTOCOL and type(rid) is str
                and type(ttl) is int and ttl >= 1 and type(message) is dict
                and type(agent) is str and type(collective) is str
                and type(sender) is str and type(caller) is str
                and type(stamp) is float and math.isfinite(stamp)
                and (reply_to is None or type(reply_to) is str)
                and type(message.get("action", "")) is str
                and type(message.get("data", {})) is dict
                and _REQUEST_ID.fullmatch(rid) is not None):
            return None
        return cls(agent=agent, collective=collective, sender=sender, caller=caller,
                   message=message, filter=_check_filter(get("filter", {})), ttl=ttl,
                   time=stamp, id=rid, reply_to=reply_to)

    @classmethod
    def from_json(cls, data: str | bytes) -> Request:
        return cls.from_dict(_loads(data, "request"))


@dataclass
class Reply:
    """One node's answer to a request."""

    request: str
    sender: str
    agent: str
    statuscode: int = 0
    statusmsg: str = "OK"
    data: Any = field(default_factory=dict)
    time: float = field(default_factory=lambda: round(_time.time(), 3))
    protocol: str = REPLY_PROTOCOL

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol, "request": self.request, "sender": self.sender,
            "agent": self.agent, "time": self.time,
            "message": {"statuscode": self.statuscode, "statusmsg": self.statusmsg,
                        "data": self.data},
        }

    def to_json(self) -> str:
        return _dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any) -> Reply:
        if type(obj) is dict:
            # The usual reply (every field of its exact JSON type, and valid), checked in
            # one expression; anything else is checked field by field below.
            get = obj.get
            message, stamp = get("message"), get("time")
            request, sender, agent = get("request"), get("sender"), get("agent")
            if type(message) is dict and get("protocol") == REPLY_PROTOCOL:
                code, statusmsg = message.get("statuscode"), message.get("statusmsg", "")
                if (type(code) is int and 0 <= code <= 5 and type(statusmsg) is str
                        and type(request) is str and type(sender) is str
                        and type(agent) is str and type(stamp) is float
                        and math.isfinite(stamp)):
                    return cls(request=request, sender=sender, agent=agent,
                               statuscode=code, statusmsg=statusmsg,
                               data=message.get("data"), time=stamp)
        what = "reply"
        if not isinstance(obj, dict):
            raise MessageError("reply must be a JSON object")
        protocol = _need(obj, "protocol", str, what)
        if protocol != REPLY_PROTOCOL:
            raise MessageError(f"unsupported reply protocol {protocol!r}")
        message = _need(obj, "message", dict, what)
        code = _need(message, "statuscode", int, "reply message")
        if not 0 <= code <= 5:
            raise MessageError(f"reply statuscode {code} is not 0..5")
        return cls(
            request=_need(obj, "request", str, what),
            sender=_need(obj, "sender", str, what),
            agent=_need(obj, "agent", str, what),
            statuscode=code,
            statusmsg=str(message.get("statusmsg", "")),
            data=message.get("data"),
            time=_timestamp(obj, what),
        )

    @classmethod
    def from_json(cls, data: str | bytes) -> Reply:
        return cls.from_dict(_loads(data, "reply"))


# --- secure layer -----------------------------------------------------------------


def wrap_secure(kind: str, payload: str, security: str, fields: Mapping[str, Any]) -> bytes:
    """The secure layer: the serialised ``payload`` plus the security plugin's fields."""
    protocol = SECURE_REQUEST_PROTOCOL if kind == "request" else SECURE_REPLY_PROTOCOL
    outer = {"protocol": protocol, "security": security, kind: payload}
    for key, value in fields.items():
        if key in outer:
            raise ValueError(f"security field {key!r} clashes with the secure layer")
        outer[key] = value
    return _dumps_bytes(outer)


#: Secure-layer field: the federation brokers a message went through, in order. Not
#: signed (each hop adds itself, as Choria's ``seen-by``); loops are cut by it.
SEEN_BY = "seen_by"


def add_hop(outer: dict[str, Any], hop: str) -> bytes:
    """The secure layer ``outer`` (from :func:`unwrap_secure`) with ``hop`` appended
    to its ``seen_by`` trace, serialised; the signed payload is carried unchanged."""
    trace = outer.get(SEEN_BY)
    out = dict(outer)
    out[SEEN_BY] = [*(trace if isinstance(trace, list) else []), hop]
    return _dumps_bytes(out)


def seen_by(outer: dict[str, Any]) -> list[str]:
    """The federation brokers a secure message went through (``[]`` if none)."""
    trace = outer.get(SEEN_BY)
    return [h for h in trace if isinstance(h, str)] if isinstance(trace, list) else []


def unwrap_secure(kind: str, data: bytes) -> tuple[dict[str, Any], str]:
    """Split the secure layer into its fields and the exact payload string."""
    outer = _loads(data, f"secure {kind}")
    if not isinstance(outer, dict):
        raise MessageError(f"secure {kind} must be a JSON object")
    expected = SECURE_REQUEST_PROTOCOL if kind == "request" else SECURE_REPLY_PROTOCOL
    if outer.get("protocol") != expected:
        raise MessageError(f"not a secure {kind}: protocol {outer.get('protocol')!r}")
    payload = outer.get(kind)
    if not isinstance(payload, str):
        raise MessageError(f"secure {kind} carries no '{kind}' string")
    if not isinstance(outer.get("security"), str):
        raise MessageError(f"secure {kind} does not name its security provider")
    return outer, payload
