"""Real brokers for tests: reachable → run; unreachable → skip, or fail when
``MCO_REQUIRE_BROKERS=1`` (as CI sets), so a broken CI broker can never pass silently."""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

DEFAULT_URLS = {
    "amqp": "amqp://guest:guest@127.0.0.1:5672//",
    "redis": "redis://127.0.0.1:6379/0",
}
ENV = {"amqp": "MCO_TEST_AMQP_URL", "redis": "MCO_TEST_REDIS_URL"}


def broker_url(kind: str) -> str:
    return os.environ.get(ENV[kind], DEFAULT_URLS[kind])


def brokers_required() -> bool:
    return os.environ.get("MCO_REQUIRE_BROKERS", "") not in ("", "0", "false", "no")


def reachable(url: str, timeout: float = 1.0) -> str | None:
    """``None`` if a TCP connection to the URL's host and port succeeds, else why not."""
    parts = urlsplit(url)
    port = parts.port or {"amqp": 5672, "pyamqp": 5672, "redis": 6379}.get(parts.scheme, 0)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout):
            return None
    except OSError as exc:
        return f"{parts.scheme} broker at {parts.hostname}:{port} unreachable: {exc}"


def require_broker(kind: str) -> str:
    """The broker URL, or skip/fail the calling test."""
    import pytest

    url = broker_url(kind)
    problem = reachable(url)
    if problem:
        if brokers_required():
            pytest.fail(f"MCO_REQUIRE_BROKERS=1 but {problem}")
        pytest.skip(problem)
    return url


# --- SQS: a local moto server started by the test session --------------------------------

SQS_ENV = "MCO_TEST_SQS_URL"


class MotoServer:
    """``moto_server`` (from ``moto[server]``) on a free loopback port: SQS and SNS
    for tests, started and stopped by the suite itself. Set ``MCO_TEST_SQS_URL`` to
    use an endpoint that is already running instead."""

    def __init__(self) -> None:
        self.process: Any = None
        self.port = 0

    @property
    def url(self) -> str:
        """A kombu ``sqs://`` URL (moto accepts any credentials); plain HTTP, so the
        connector needs ``plugin.kombu.sqs_secure = false``."""
        return f"sqs://testing:testing@127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        import shutil
        import subprocess
        import sys
        import time
        import urllib.request
        from pathlib import Path

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        beside = Path(sys.executable).parent / "moto_server"
        exe = str(beside) if beside.exists() else shutil.which("moto_server")
        cmd = ([exe] if exe else [sys.executable, "-m", "moto.server"]) + [
            "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/",
                                       timeout=1).close()
                return self.url
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer within {timeout:g}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
        self.process = None


def moto_available() -> str | None:
    """``None`` if moto's server can be started here, else why not."""
    import importlib.util

    for module in ("moto", "flask", "boto3", "pycurl"):
        if importlib.util.find_spec(module) is None:
            return (f"SQS tests need moto[server] and kombu[sqs] "
                    f"(module {module!r} is not installed)")
    return None


# --- fault injection --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_port(url: str, port: int, host: str = "127.0.0.1") -> str:
    """``url`` pointed at ``host:port`` (credentials, path and query kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return parts._replace(netloc=netloc).geturl()


class TcpProxy:
    """A TCP proxy on a loopback port in front of a broker, which a test can *cut*
    (every connection dropped, new ones refused: the broker seems to have died) and
    *restore* (accepting again on the same port: the broker is back). Lets fault tests
    take a shared broker away from their own daemons only."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import threading

        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.connections = 0

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        parts = urlsplit(url)
        default = {"amqp": 5672, "pyamqp": 5672, "redis": 6379}.get(parts.scheme, 0)
        return cls(parts.hostname or "127.0.0.1", parts.port or default)

    def url(self, broker_url: str) -> str:
        return with_port(broker_url, self.port)

    def start(self) -> TcpProxy:
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True,
                         name="proxy-accept").start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut or stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True,
                                 name="proxy-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = list(self._sockets), set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self) -> None:
        self.start()

    stop = cut


class RedisServer:
    """A private ``redis-server`` on a free port (no persistence), which a test may
    stop and start again: a real broker restart, with its state lost, that disturbs
    nobody else's Redis."""

    def __init__(self) -> None:
        import shutil

        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        import subprocess
        import time

        if not self.binary:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reachable(self.url, 0.2) is None:
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class TlsProxy(TcpProxy):
    """A :class:`TcpProxy` that terminates TLS: clients speak TLS to it (with the
    certificate ``certfile``/``keyfile``; with ``client_ca``, they must present a
    certificate signed by that CA), and it forwards the plaintext to the target. Gives
    a broker without a TLS listener one, for tests of a connector's TLS settings.

    One thread per connection: the handshake, then both directions through one
    ``select`` loop (an SSL socket must not be read and written by two threads)."""

    def __init__(self, target_host: str, target_port: int, *, certfile: str,
                 keyfile: str, client_ca: str | None = None) -> None:
        import ssl

        super().__init__(target_host, target_port)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        if client_ca:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        self.context = context
        #: Connections whose TLS handshake failed (e.g. an untrusted client).
        self.handshake_failures = 0

    def _accept(self, listener: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut or stopped
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    return
                self._sockets.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True,
                             name="tls-proxy-conn").start()

    def _serve(self, client: socket.socket) -> None:
        import select
        import ssl

        tls: ssl.SSLSocket | None = None
        upstream: socket.socket | None = None
        try:
            client.settimeout(10)
            try:
                tls = self.context.wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError):
                with self._lock:
                    self.handshake_failures += 1
                return
            upstream = socket.create_connection(self.target, timeout=5)
            with self._lock:
                self._sockets.discard(client)
                self._sockets.update((tls, upstream))
                self.connections += 1
            tls.setblocking(False)
            upstream.setblocking(False)
            while True:
                if tls.pending():
                    readable: list[Any] = [tls]
                else:
                    readable, _, _ = select.select([tls, upstream], [], [])
                for src in readable:
                    dst = upstream if src is tls else tls
                    try:
                        data = src.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                            BlockingIOError):
                        continue
                    if not data:
                        return
                    self._send(dst, data)
        except (OSError, ValueError):
            pass  # closed, reset, or cut
        finally:
            for sock in (tls or client, upstream):
                if sock is None:
                    continue
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except (OSError, ValueError):
                    pass
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> None:
        import select
        import ssl

        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view):]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                select.select([], [sock], [], 1.0)
