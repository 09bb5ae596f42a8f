"""py-amqp with fewer system calls: where a busy daemon's and client's time went.

Profiled on an emulator answering 250 broadcast pings per round (bench/scale.py), a
quarter of the process's time was ``sendall``, one per reply, and a tenth ``recv``:
py-amqp reads every frame with three ``recv`` calls of exactly the bytes it needs
(header, payload, end octet), nine per delivered message. Each system call also lets
go of the GIL and waits to get it back. This module changes only how bytes move:

* :class:`BufferedTCPTransport` parses frames out of a buffer filled by ``recv`` calls
  of up to 64 KB (a burst of deliveries costs a few calls, not nine each), and can say
  whether another complete frame is already buffered (:meth:`has_frame`): the consumer
  loop uses that to know that a burst is over without asking the kernel. While
  *corked* it collects the frames written and sends them in one ``sendall`` on
  :meth:`flush`, so that a batch of replies costs one call.
* :func:`publish` sends a ``basic.publish`` without kombu's ``Producer`` and without
  py-amqp's check for ``connection.blocked`` before every message (a ``recv`` that
  almost always finds nothing); :func:`check_inbound` does that check once per batch.
  It writes the same three frames py-amqp's ``frame_writer`` writes, byte for byte,
  from parts kept between messages: the method frame's payload per (exchange, routing
  key) and the content header's property list per (content type, encoding,
  expiration); a burst of replies goes to one or a few reply queues with one ttl.
* :func:`frame_handler` is py-amqp's, except that a ``basic.deliver`` to a
  :class:`RawConsumer` is delivered as its body alone, straight from the frames: no
  ``Message``, no property table decoded, no argument list unpacked and no
  ``delivery_info`` built for a consumer that only reads the body. The body is what
  py-amqp would have handed over (``auto_decode`` included). Every other frame, and a
  delivery to any other consumer, takes py-amqp's path. :class:`Connection` reads a
  frame that is already buffered without setting the socket's timeout around it.

TLS connections keep py-amqp's own transport (its reads are already buffered by the
TLS layer); :func:`publish` works on both.
"""

from __future__ import annotations

import errno
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import amqp
from amqp import spec
from amqp.basic_message import Message
from amqp.exceptions import UnexpectedFrame
from amqp.method_framing import _CONTENT_METHODS
from amqp.serialization import dumps
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

#: errno values of a read that found nothing (non-blocking socket) or was interrupted.
_NOTHING_YET = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})
#: errno values after which py-amqp still considers the socket connected.
_UNAVAILABLE = frozenset({errno.EAGAIN, errno.EINTR, errno.ENOENT, errno.EWOULDBLOCK})
_FRAME_END = 0xCE


class BufferedTCPTransport(TCPTransport):
    """py-amqp's TCP transport with buffered frame reads and corkable writes."""

    #: Bytes asked of each ``recv``.
    recv_size = 65536

    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._rbuf = b""  # bytes received and not yet parsed, from _rpos on
        self._rpos = 0
        self._corked = False
        self._wbuf: list[bytes] = []

    # --- reading ------------------------------------------------------------------------

    def _fill(self) -> None:
        """One ``recv`` into the buffer. A timeout (or, on a non-blocking socket,
        nothing to read) raises ``socket.timeout`` with the buffer intact: a frame
        read in part is completed by the next call."""
        try:
            chunk = self._quick_recv(self.recv_size)
        except TimeoutError:
            raise
        except OSError as exc:
            if exc.errno in _NOTHING_YET:
                raise TimeoutError() from None
            if exc.errno not in _UNAVAILABLE:
                self.connected = False
            raise
        if not chunk:
            self.connected = False
            raise OSError("Server unexpectedly closed connection")
        if self._rpos:
            self._rbuf = self._rbuf[self._rpos:] + chunk
            self._rpos = 0
        else:
            self._rbuf += chunk

    def _read(self, n: int, initial: bool = False, _errnos: Any = None) -> bytes:
        """Exactly ``n`` bytes (py-amqp reads the connection handshake this way)."""
        while len(self._rbuf) - self._rpos < n:
            self._fill()
        start = self._rpos
        self._rpos = start + n
        return self._rbuf[start:start + n]

    def read_frame(self, unpack_from: Any = struct.unpack_from) -> tuple[int, int, bytes]:
        while True:
            buf, pos = self._rbuf, self._rpos
            if len(buf) - pos >= 8:
                frame_type, channel, size = unpack_from(">BHI", buf, pos)
                end = pos + 7 + size
                if len(buf) > end:
                    if buf[end] != _FRAME_END:
                        raise UnexpectedFrame(
                            f"Received frame_end {buf[end]:#04x} while expecting 0xce")
                    self._rpos = end + 1
                    return frame_type, channel, buf[pos + 7:end]
            self._fill()

    def has_frame(self) -> bool:
        """Whether a complete frame is already buffered (no system call)."""
        buf, pos = self._rbuf, self._rpos
        if len(buf) - pos < 8:
            return False
        return len(buf) > pos + 7 + struct.unpack_from(">I", buf, pos + 3)[0]

    def buffered_frame(self, unpack_from: Any = struct.unpack_from
                       ) -> tuple[int, int, bytes] | None:
        """The next frame if it is already buffered (as :meth:`read_frame` would
        return it), else None; no system call."""
        buf, pos = self._rbuf, self._rpos
        if len(buf) - pos < 8:
            return None
        frame_type, channel, size = unpack_from(">BHI", buf, pos)
        end = pos + 7 + size
        if len(buf) <= end:
            return None
        if buf[end] != _FRAME_END:
            raise UnexpectedFrame(f"Received frame_end {buf[end]:#04x} while expecting 0xce")
        self._rpos = end + 1
        return frame_type, channel, buf[pos + 7:end]

    # --- writing ------------------------------------------------------------------------

    def cork(self) -> None:
        """Collect what is written from now on, until :meth:`flush` or :meth:`discard`."""
        self._corked = True

    def write(self, s: Any) -> None:
        if self._corked:
            # py-amqp hands over a view of a buffer it reuses for the next frame.
            self._wbuf.append(bytes(s))
            return
        super().write(s)

    def flush(self) -> None:
        """Send what was collected, in one ``sendall``; stop collecting."""
        self._corked = False
        if self._wbuf:
            data = b"".join(self._wbuf)
            self._wbuf.clear()
            super().write(data)

    def discard(self) -> None:
        """Forget what was collected (a batch that failed half-way); stop collecting."""
        self._corked = False
        self._wbuf.clear()


class RawConsumer:
    """A ``basic_consume`` callback that wants a delivery's body only: ``on_body`` is
    called with what py-amqp's ``Message.body`` would be (bytes, or str when the
    channel decoded it by its ``content_encoding``). Given py-amqp's ``Message`` (a
    frame handler other than :func:`frame_handler`), it hands over its body."""

    __slots__ = ("on_body",)

    def __init__(self, on_body: Callable[[Any], None]) -> None:
        self.on_body = on_body

    def __call__(self, message: Any) -> None:
        self.on_body(message.body)


_DELIVER = spec.Basic.Deliver


class _RawDelivery:
    """A ``basic.deliver`` to a :class:`RawConsumer`, between its frames."""

    __slots__ = ("args", "channel", "chunks", "consumer", "encoding", "got", "header", "size",
                 "tag")

    def __init__(self, args: bytes, channel: Any, tag: str, consumer: RawConsumer) -> None:
        self.args, self.channel, self.tag, self.consumer = args, channel, tag, consumer
        self.header = b""
        self.size = self.got = 0
        self.chunks: list[bytes] = []
        self.encoding: str | None = None

    def message(self) -> Message:
        """py-amqp's Message for these frames (when py-amqp must dispatch after all)."""
        msg = Message(frame_method=_DELIVER, frame_args=self.args)
        msg.inbound_header(self.header)
        if self.size:
            msg.inbound_body(b"".join(self.chunks))
        return msg


def _content_encoding(header: bytes, unpack_from: Any = struct.unpack_from) -> str | None:
    """The ``content_encoding`` property of a content header frame's payload, if set
    (read as py-amqp's ``decode_properties_basic`` reads it)."""
    flags = unpack_from(">H", header, 12)[0]
    if not flags & 0x4000:
        return None
    offset = 14
    if flags & 0x8000:  # content_type comes first
        offset += 1 + header[offset]
    size = header[offset]
    return header[offset + 1:offset + 1 + size].decode("utf-8", "surrogatepass")


def frame_handler(connection: Any, callback: Callable[..., Any],
                  unpack_from: Any = struct.unpack_from,
                  content_methods: frozenset[Any] = _CONTENT_METHODS) -> Callable[..., bool]:
    """py-amqp's ``method_framing.frame_handler`` (the same checks, state and return
    values), delivering to a :class:`RawConsumer` directly (see the module doc)."""
    expected_types: defaultdict[int, int] = defaultdict(lambda: 1)
    partial_messages: dict[int, Message] = {}
    raw: dict[int, _RawDelivery] = {}

    def raw_consumer(channel_id: int, args: bytes) -> _RawDelivery | None:
        channels = connection.channels
        channel = channels.get(channel_id) if channels else None
        if channel is None or channel.is_closing:
            return None  # py-amqp's path: it raises, or warns and drops
        size = args[4]  # the consumer tag, a shortstr after class and method ids
        tag = args[5:5 + size].decode("utf-8", "surrogatepass")
        consumer = channel.callbacks.get(tag)
        if type(consumer) is not RawConsumer:
            return None
        return _RawDelivery(args, channel, tag, consumer)

    def deliver(channel_id: int, pending: _RawDelivery) -> None:
        # As py-amqp, who is delivered to is decided now (frames of other channels may
        # have come in between): if anything changed, py-amqp dispatches.
        channel = pending.channel
        channels = connection.channels
        if (not channels or channels.get(channel_id) is not channel or channel.is_closing
                or channel.callbacks.get(pending.tag) is not pending.consumer):
            callback(channel_id, _DELIVER, pending.args, pending.message())
            return
        chunks = pending.chunks
        body: Any = (chunks[0] if len(chunks) == 1 else b"".join(chunks)) if pending.size \
            else ""
        encoding = pending.encoding
        if encoding is not None and channel.auto_decode:
            try:  # as py-amqp's dispatch_method: the body stays bytes if that fails
                body = body.decode(encoding)
            except Exception:
                pass
        pending.consumer.on_body(body)

    def on_frame(frame: tuple[int, int, bytes]) -> bool:
        frame_type, channel, buf = frame
        connection.bytes_recv += 1
        if frame_type not in (expected_types[channel], 8):
            raise UnexpectedFrame(
                f"Received frame {frame_type} while expecting type: "
                f"{expected_types[channel]}")
        elif frame_type == 1:
            method_sig = unpack_from(">HH", buf, 0)
            if method_sig in content_methods:
                pending = raw_consumer(channel, buf) if method_sig == _DELIVER else None
                if pending is not None:
                    raw[channel] = pending
                else:
                    # Save what we've got so far and wait for the content-header
                    partial_messages[channel] = Message(frame_method=method_sig,
                                                        frame_args=buf)
                expected_types[channel] = 2
                return False
            callback(channel, method_sig, buf, None)
        elif frame_type == 2:
            pending = raw.get(channel)
            if pending is not None:
                pending.header = buf
                pending.size = unpack_from(">Q", buf, 4)[0]
                pending.encoding = _content_encoding(buf)
                if pending.size:
                    expected_types[channel] = 3
                    return False
                expected_types[channel] = 1
                del raw[channel]
                deliver(channel, pending)
                return True
            msg = partial_messages[channel]
            msg.inbound_header(buf)
            if not msg.ready:
                # wait for the content-body
                expected_types[channel] = 3
                return False
            # bodyless message, we're done
            expected_types[channel] = 1
            partial_messages.pop(channel, None)
            callback(channel, msg.frame_method, msg.frame_args, msg)
        elif frame_type == 3:
            pending = raw.get(channel)
            if pending is not None:
                pending.chunks.append(buf)
                pending.got += len(buf)
                if pending.got < pending.size:
                    return False
                expected_types[channel] = 1
                del raw[channel]
                deliver(channel, pending)
                return True
            msg = partial_messages[channel]
            msg.inbound_body(buf)
            if not msg.ready:
                # wait for the rest of the content-body
                return False
            expected_types[channel] = 1
            partial_messages.pop(channel, None)
            callback(channel, msg.frame_method, msg.frame_args, msg)
        elif frame_type == 8:
            # bytes_recv already updated
            return False
        return True

    return on_frame


class Connection(pyamqp.Connection):
    """kombu's py-amqp connection, on a :class:`BufferedTCPTransport` unless TLS, with
    :func:`frame_handler`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("frame_handler", frame_handler)
        super().__init__(*args, **kwargs)

    def blocking_read(self, timeout: Any = None) -> Any:
        """py-amqp's, except that a frame already buffered is read without setting the
        socket's timeout around it (nothing waits for the socket)."""
        transport = self.transport
        if type(transport) is BufferedTCPTransport:
            frame = transport.buffered_frame()
            if frame is not None:
                return self.on_inbound_frame(frame)
        return super().blocking_read(timeout)

    def Transport(self, host: str, connect_timeout: Any, ssl: Any = False,
                  read_timeout: Any = None, write_timeout: Any = None,
                  socket_settings: Any = None, **kwargs: Any) -> Any:
        if ssl:
            return super().Transport(host, connect_timeout, ssl=ssl,
                                     read_timeout=read_timeout,
                                     write_timeout=write_timeout,
                                     socket_settings=socket_settings, **kwargs)
        return BufferedTCPTransport(host, connect_timeout=connect_timeout,
                                    read_timeout=read_timeout, write_timeout=write_timeout,
                                    socket_settings=socket_settings, **kwargs)


class Transport(pyamqp.Transport):
    """kombu's ``pyamqp`` transport with :class:`Connection`; for ``amqps`` too, the
    connection being made with ``ssl`` set."""

    Connection = Connection


def buffered(connection: Any) -> BufferedTCPTransport | None:
    """The :class:`BufferedTCPTransport` under a kombu or py-amqp connection, if any."""
    conn = getattr(connection, "connection", connection)
    transport = getattr(conn, "transport", None)
    return transport if isinstance(transport, BufferedTCPTransport) else None


#: Parts of frames kept between publishes (see the module doc), each bounded.
_METHODS: dict[tuple[str, str], bytes] = {}
_PROPERTIES: dict[tuple[str, str, float | None], bytes] = {}
_KEPT = 1024
_PUBLISH_SIG = struct.pack(">HH", *spec.Basic.Publish)
_HEADER = struct.Struct(">HHQ")
_FRAME_HEADER = struct.Struct(">BHI")
_END = b"\xce"


def _method_payload(exchange: str, routing_key: str) -> bytes:
    """A ``basic.publish`` method frame's payload (non-mandatory, non-immediate)."""
    key = (exchange, routing_key)
    payload = _METHODS.get(key)
    if payload is None:
        payload = _PUBLISH_SIG + dumps("Bssbb", (0, exchange, routing_key, False, False))
        if len(_METHODS) >= _KEPT:
            _METHODS.clear()
        _METHODS[key] = payload
    return payload


def _property_list(content_type: str, content_encoding: str, expiration: float | None
                   ) -> bytes:
    """The property flags and list of a non-persistent message's content header."""
    key = (content_type, content_encoding, expiration)
    props = _PROPERTIES.get(key)
    if props is None:
        properties: dict[str, Any] = {"content_type": content_type,
                                      "content_encoding": content_encoding,
                                      "delivery_mode": 1}
        if expiration is not None:
            properties["expiration"] = str(int(expiration * 1000))
        props = amqp.Message(b"", **properties)._serialize_properties()
        if len(_PROPERTIES) >= _KEPT:
            _PROPERTIES.clear()
        _PROPERTIES[key] = props
    return props


def publish(channel: Any, exchange: str, routing_key: str, body: bytes, *,
            content_type: str, content_encoding: str, expiration: float | None) -> None:
    """``basic.publish`` on a py-amqp channel, non-persistent, without the per-message
    ``connection.blocked`` check (see :func:`check_inbound`)."""
    publish_many(channel, ((exchange, routing_key, body, expiration),),
                 content_type=content_type, content_encoding=content_encoding)


def publish_many(channel: Any, messages: Iterable[tuple[str, str, bytes, float | None]], *,
                 content_type: str, content_encoding: str) -> None:
    """:func:`publish` each (exchange, routing key, body, expiration), written with
    one ``transport.write``: the frames py-amqp's ``frame_writer`` would write."""
    conn = channel.connection
    if not conn:
        raise amqp.exceptions.RecoverableConnectionError("publish: connection closed")
    pack_frame, pack_header = _FRAME_HEADER.pack, _HEADER.pack
    channel_id = channel.channel_id
    chunk = conn.frame_max - 8
    parts: list[bytes] = []
    add = parts.append
    count = 0
    for exchange, routing_key, body, expiration in messages:
        method = _method_payload(exchange, routing_key)
        header = pack_header(60, 0, len(body)) + _property_list(
            content_type, content_encoding, expiration)
        add(pack_frame(1, channel_id, len(method)))
        add(method)
        add(_END)
        add(pack_frame(2, channel_id, len(header)))
        add(header)
        add(_END)
        size = len(body)
        if size <= chunk:
            if size:
                add(pack_frame(3, channel_id, size))
                add(body)
                add(_END)
        else:
            for start in range(0, size, chunk):
                piece = body[start:start + chunk]
                add(pack_frame(3, channel_id, len(piece)))
                add(piece)
                add(_END)
        count += 1
    if not parts:
        return
    conn.transport.write(b"".join(parts))
    conn.bytes_sent += count


def check_inbound(connection: Any) -> None:
    """Read what the broker sent on a publishing connection (``connection.blocked``,
    a channel or connection closed because of an error, heartbeats) without waiting:
    what py-amqp does before every publish, done here once per batch. Raises if the
    broker closed the connection or channel."""
    conn = getattr(connection, "connection", connection)
    try:
        conn.drain_events(timeout=0)
    except TimeoutError:
        pass
