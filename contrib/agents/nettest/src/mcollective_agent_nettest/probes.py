"""The network checks themselves, free of RPC concerns so they can be tested alone."""

from __future__ import annotations

import errno
import math
import re
import socket
import time
from dataclasses import dataclass

_RTT = re.compile(r"time[=<]\s*([0-9]+(?:\.[0-9]+)?)\s*ms")


@dataclass(frozen=True)
class Address:
    """A resolved host: the address family and the IP to test."""

    family: socket.AddressFamily
    ip: str


@dataclass(frozen=True)
class ConnectResult:
    """``status`` uses Choria's words (``Connected``, ``Connection Refused``,
    ``Connection Timeout``) or the operating system's for other errors; ``seconds`` is
    only set when the connection was made, as in Choria."""

    connected: bool
    status: str
    seconds: float | None


def resolve(host: str) -> Address:
    """The first address the resolver gives for ``host`` (an IP resolves to itself).

    Raises :class:`OSError` (``socket.gaierror``) when the name does not resolve.
    """
    family, _, _, _, sockaddr = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0]
    return Address(family, str(sockaddr[0]))


def tcp_connect(address: Address, port: int, timeout: float) -> ConnectResult:
    """Open (and close) one TCP connection to ``address:port``."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    start = time.monotonic()
    try:
        sock.connect((address.ip, port))
    except TimeoutError:
        return ConnectResult(False, "Connection Timeout", None)
    except ConnectionRefusedError:
        return ConnectResult(False, "Connection Refused", None)
    except OSError as exc:
        return ConnectResult(False, exc.strerror or str(exc), None)
    else:
        return ConnectResult(True, "Connected", time.monotonic() - start)
    finally:
        sock.close()


def tcp_ping(address: Address, port: int, timeout: float) -> float | None:
    """Round trip time in milliseconds of a TCP handshake attempt, or ``None`` when the
    host did not answer in time.

    An accepted connection and a refusal (RST) both prove the host answered, and both
    take one round trip, so either counts (as Ruby's ``Net::Ping::TCP`` does). Used when
    the node has no ``ping`` program: ICMP needs raw sockets, which need privileges.
    """
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    start = time.monotonic()
    try:
        sock.connect((address.ip, port))
    except ConnectionRefusedError:
        pass
    except OSError as exc:
        if exc.errno != errno.ECONNREFUSED:
            return None
    finally:
        sock.close()
    return (time.monotonic() - start) * 1000.0


def ping_command(binary: str, address: Address, timeout: float) -> list[str]:
    """One echo request with iputils/busybox ``ping``: numeric output, ``-W`` seconds to
    wait for the answer."""
    family = "-6" if address.family == socket.AF_INET6 else "-4"
    return [binary, family, "-n", "-c", "1", "-W", str(max(1, math.ceil(timeout))),
            address.ip]


def parse_ping_rtt(output: str) -> float | None:
    """The ``time=0.045 ms`` (or ``time<1 ms``) of ``ping`` output, in milliseconds."""
    match = _RTT.search(output)
    return float(match.group(1)) if match else None
