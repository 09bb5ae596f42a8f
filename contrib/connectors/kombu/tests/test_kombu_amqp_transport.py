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
