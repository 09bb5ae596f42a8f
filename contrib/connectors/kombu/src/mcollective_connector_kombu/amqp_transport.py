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

TLS connections keep py-amqp's own transport (its reads are already buffered by the
TLS layer); :func:`publish` works on both.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

import amqp
from amqp import spec
from amqp.exceptions import UnexpectedFrame
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


class Connection(pyamqp.Connection):
    """kombu's py-amqp connection, on a :class:`BufferedTCPTransport` unless TLS."""

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


def publish(channel: Any, exchange: str, routing_key: str, body: bytes, *,
            content_type: str, content_encoding: str, expiration: float | None) -> None:
    """``basic.publish`` on a py-amqp channel, non-persistent, without the per-message
    ``connection.blocked`` check (see :func:`check_inbound`)."""
    properties: dict[str, Any] = {"content_type": content_type,
                                  "content_encoding": content_encoding,
                                  "delivery_mode": 1}
    if expiration is not None:
        properties["expiration"] = str(int(expiration * 1000))
    if not channel.connection:
        raise amqp.exceptions.RecoverableConnectionError("publish: connection closed")
    channel.send_method(spec.Basic.Publish, "Bssbb", (0, exchange, routing_key, False, False),
                        amqp.Message(body, **properties))


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
