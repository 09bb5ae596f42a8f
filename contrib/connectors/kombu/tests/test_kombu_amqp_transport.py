"""The buffered py-amqp transport (amqp_transport): frames read out of a buffer must be
exactly the frames py-amqp's own transport reads, however the bytes are split into
``recv`` results; a timeout mid-frame loses nothing; corked writes go out in one
``sendall``. Real sockets (a socketpair); the end-to-end proof is the connector
contract suite on RabbitMQ."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from mcollective_connector_kombu.amqp_transport import BufferedTCPTransport


def frame(frame_type: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes([end])


def attach(transport_class: type, sock: socket.socket) -> TCPTransport:
    """A transport over ``sock`` (connected by the test, not by the transport)."""
    transport = transport_class("127.0.0.1:1", connect_timeout=1)
    transport.sock = sock
    transport._setup_transport()
    transport.connected = True
    return transport


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


frames_strategy = st.lists(
    st.tuples(st.integers(1, 8), st.integers(0, 65535), st.binary(max_size=3000)),
    min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(frames=frames_strategy, cuts=st.lists(st.integers(1, 5000), max_size=40),
       recv_size=st.sampled_from([7, 100, BufferedTCPTransport.recv_size]))
def test_frames_read_as_py_amqp_reads_them(frames: list[tuple[int, int, bytes]],
                                           cuts: list[int], recv_size: int) -> None:
    stream = b"".join(frame(t, c, p) for t, c, p in frames)
    results = []
    for cls in (TCPTransport, BufferedTCPTransport):
        a, b = socket.socketpair()
        try:
            transport = attach(cls, b)
            if cls is BufferedTCPTransport:
                transport.recv_size = recv_size  # small reads end mid-frame
            pos = 0
            for cut in [*cuts, len(stream)]:  # the sender writes in arbitrary pieces
                a.sendall(stream[pos:pos + cut])
                pos += cut
                if pos >= len(stream):
                    break
            results.append([transport.read_frame() for _ in frames])
        finally:
            a.close()
            b.close()
    assert results[0] == results[1] == [(t, c, p) for t, c, p in frames]


def test_a_timeout_mid_frame_loses_nothing(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    transport = attach(BufferedTCPTransport, b)
    data = frame(3, 1, b"x" * 100) + frame(8, 0, b"")
    a.sendall(data[:50])
    with transport.having_timeout(0.05), pytest.raises(TimeoutError):
        transport.read_frame()
    assert not transport.has_frame()
    a.sendall(data[50:])
    assert transport.read_frame() == (3, 1, b"x" * 100)
    assert transport.has_frame()  # the heartbeat came in the same recv
    assert transport.read_frame() == (8, 0, b"")
    assert not transport.has_frame()


def test_nothing_to_read_on_a_non_blocking_socket_is_a_timeout(
        pair: tuple[socket.socket, socket.socket]) -> None:
    _, b = pair
    transport = attach(BufferedTCPTransport, b)
    with transport.having_timeout(0), pytest.raises(TimeoutError):
        transport.read_frame()
    assert transport.connected


def test_a_bad_frame_end_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    transport = attach(BufferedTCPTransport, b)
    a.sendall(frame(1, 1, b"abc", end=0x00))
    with pytest.raises(UnexpectedFrame):
        transport.read_frame()


def test_a_closed_connection_is_an_error(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    transport = attach(BufferedTCPTransport, b)
    a.sendall(frame(1, 1, b"abc")[:5])
    a.close()
    with pytest.raises(OSError, match="unexpectedly closed"):
        transport.read_frame()
    assert not transport.connected


def test_corked_writes_go_out_together(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    transport = attach(BufferedTCPTransport, b)
    sent: list[bytes] = []
    real = transport._write
    transport._write = lambda data: (sent.append(bytes(data)), real(data))[1]
    buffer = bytearray(b"one")  # py-amqp reuses its frame buffer after each write
    transport.cork()
    transport.write(memoryview(buffer))
    buffer[:] = b"two"
    transport.write(memoryview(buffer))
    assert sent == []
    transport.flush()
    assert sent == [b"onetwo"]
    assert a.recv(100) == b"onetwo"

    transport.cork()
    transport.write(b"lost")
    transport.discard()  # a batch that failed half-way is not sent
    transport.write(b"now")  # uncorked again: straight out
    assert sent == [b"onetwo", b"now"]


# --- publishing: the frames py-amqp's frame_writer writes --------------------------------


class _Sink:
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(bytes(data))


class _Conn:
    def __init__(self, frame_max: int) -> None:
        self.frame_max = frame_max
        self.transport = _Sink()
        self.bytes_sent = 0

    def __bool__(self) -> bool:
        return True


class _Channel:
    def __init__(self, conn: _Conn, channel_id: int) -> None:
        self.connection, self.channel_id = conn, channel_id


@settings(max_examples=80, deadline=None)
@given(messages=st.lists(st.tuples(st.sampled_from(["", "mcollective_reply", "é"]),
                                   st.text(max_size=60), st.binary(max_size=700),
                                   st.sampled_from([None, 60.0, 3.5, 0.001])),
                         min_size=1, max_size=5),
       frame_max=st.sampled_from([4096, 300, 131072]), channel_id=st.integers(1, 65535))
def test_published_frames_are_py_amqps(messages: list[tuple[str, str, bytes, float | None]],
                                       frame_max: int, channel_id: int) -> None:
    import amqp
    from amqp import spec
    from amqp.method_framing import frame_writer
    from amqp.serialization import dumps

    from mcollective_connector_kombu.amqp_transport import publish, publish_many

    reference = _Conn(frame_max)
    write_frame = frame_writer(reference, reference.transport)
    for exchange, key, body, expiration in messages:
        props: dict[str, object] = {"content_type": "application/octet-stream",
                                    "content_encoding": "binary", "delivery_mode": 1}
        if expiration is not None:
            props["expiration"] = str(int(expiration * 1000))
        write_frame(1, channel_id, spec.Basic.Publish,
                    dumps("Bssbb", (0, exchange, key, False, False)),
                    amqp.Message(body, **props))
    ours = _Conn(frame_max)
    publish_many(_Channel(ours, channel_id), messages,
                 content_type="application/octet-stream", content_encoding="binary")
    assert b"".join(ours.transport.data) == b"".join(reference.transport.data)
    assert len(ours.transport.data) == 1  # one write for the whole batch
    assert ours.bytes_sent == reference.bytes_sent == len(messages)
    one = _Conn(frame_max)
    for exchange, key, body, expiration in messages:
        publish(_Channel(one, channel_id), exchange, key, body,
                content_type="application/octet-stream", content_encoding="binary",
                expiration=expiration)
    assert b"".join(one.transport.data) == b"".join(reference.transport.data)


# --- receiving: deliveries to a RawConsumer -----------------------------------------------


class _RecvChannel:
    def __init__(self, callbacks: dict[str, object], auto_decode: bool = True) -> None:
        self.callbacks = callbacks
        self.is_closing = False
        self.auto_decode = auto_decode


class _RecvConn:
    def __init__(self, channels: dict[int, _RecvChannel]) -> None:
        self.channels = channels
        self.bytes_recv = 0


def _delivery(channel: int, tag: str, body: bytes, frame_max: int,
              encoding: str | None, content_type: str | None = "application/x") -> list[
                  tuple[int, int, bytes]]:
    """The frames RabbitMQ sends for one basic.deliver (as py-amqp writes a publish)."""
    import amqp
    from amqp import spec
    from amqp.method_framing import frame_writer
    from amqp.serialization import dumps

    conn = _Conn(frame_max)
    props = {k: v for k, v in (("content_type", content_type),
                               ("content_encoding", encoding)) if v is not None}
    frame_writer(conn, conn.transport)(
        1, channel, spec.Basic.Deliver,
        dumps("sLbss", (tag, 7, False, "ex", "key")), amqp.Message(body, **props))
    stream = b"".join(conn.transport.data)
    frames = []
    while stream:
        ftype, chan, size = struct.unpack_from(">BHI", stream)
        frames.append((ftype, chan, stream[7:7 + size]))
        stream = stream[8 + size:]
    return frames


@settings(max_examples=80, deadline=None)
@given(body=st.one_of(st.binary(max_size=900), st.text(max_size=300).map(str.encode)),
       frame_max=st.sampled_from([64, 300, 131072]),
       encoding=st.sampled_from([None, "binary", "utf-8", "latin-1", "nonsense"]),
       content_type=st.sampled_from([None, "application/octet-stream"]),
       auto_decode=st.booleans())
def test_raw_deliveries_carry_what_py_amqp_would_hand_over(
        body: bytes, frame_max: int, encoding: str | None, content_type: str | None,
        auto_decode: bool) -> None:
    from amqp.method_framing import frame_handler as py_amqp_frame_handler

    from mcollective_connector_kombu.amqp_transport import RawConsumer, frame_handler

    frames = _delivery(3, "ctag", body, frame_max, encoding, content_type)
    # What py-amqp hands over: its Message's body after dispatch_method's auto_decode.
    messages: list[object] = []
    py_amqp = py_amqp_frame_handler(_RecvConn({}), lambda *a: messages.append(a[3]))
    for f in frames:
        py_amqp(f)
    (msg,) = messages
    expected = msg.body  # type: ignore[attr-defined]
    if auto_decode and hasattr(msg, "content_encoding"):
        try:
            expected = expected.decode(msg.content_encoding)  # type: ignore[attr-defined]
        except Exception:
            pass
    got: list[object] = []
    others: list[object] = []
    conn = _RecvConn({3: _RecvChannel({"ctag": RawConsumer(got.append)}, auto_decode)})
    ours = frame_handler(conn, lambda *a: others.append(a))
    results = [ours(f) for f in frames]
    assert results == [False] * (len(frames) - 1) + [True]
    assert got == [expected] and type(got[0]) is type(expected)
    assert others == []
    assert conn.bytes_recv == len(frames)


def test_other_consumers_and_methods_take_py_amqps_path() -> None:
    from amqp.exceptions import UnexpectedFrame

    from mcollective_connector_kombu.amqp_transport import RawConsumer, frame_handler

    got: list[object] = []
    dispatched: list[tuple[object, ...]] = []
    channel = _RecvChannel({"raw": RawConsumer(got.append), "plain": print})
    conn = _RecvConn({1: channel})
    on_frame = frame_handler(conn, lambda *a: dispatched.append(a))
    for f in _delivery(1, "plain", b"to a plain consumer", 4096, "binary"):
        on_frame(f)
    assert got == []
    (call,) = dispatched
    assert call[1] == (60, 60) and call[3].body == b"to a plain consumer"  # type: ignore
    # Interleaved with a heartbeat and another channel's method frame.
    frames = _delivery(1, "raw", b"x" * 500, 100, "binary")
    on_frame(frames[0])
    assert on_frame((8, 0, b"")) is False
    on_frame((1, 2, struct.pack(">HH", 20, 41)))  # channel.close-ok on channel 2
    for f in frames[1:]:
        on_frame(f)
    assert got == [b"x" * 500]
    assert dispatched[-1][:2] == (2, (20, 41))
    # A consumer cancelled (or a channel closing) before the body is complete: as py-amqp.
    frames = _delivery(1, "raw", b"late", 4096, "binary")
    on_frame(frames[0])
    channel.callbacks.pop("raw")
    for f in frames[1:]:
        on_frame(f)
    assert got == [b"x" * 500]
    assert dispatched[-1][1] == (60, 60) and dispatched[-1][3].body == b"late"  # type: ignore
    with pytest.raises(UnexpectedFrame):  # a body frame where a method frame belongs
        on_frame((3, 1, b"stray"))
