"""Real brokers for tests: reachable → run; unreachable → skip, or fail when
``MCO_REQUIRE_BROKERS=1`` (as CI sets), so a broken CI broker can never pass silently."""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import unquote, urlsplit

DEFAULT_URLS = {
    "amqp": "amqp://guest:guest@127.0.0.1:5672//",
    "redis": "redis://127.0.0.1:6379/0",
    "nats": "nats://127.0.0.1:4222",
}
ENV = {"amqp": "MCO_TEST_AMQP_URL", "redis": "MCO_TEST_REDIS_URL",
       "nats": "MCO_TEST_NATS_URL"}
#: Default port per URL scheme.
DEFAULT_PORTS = {"amqp": 5672, "pyamqp": 5672, "amqps": 5671, "redis": 6379,
                 "nats": 4222, "tls": 4222}


def broker_url(kind: str) -> str:
    return os.environ.get(ENV[kind], DEFAULT_URLS[kind])


def brokers_required() -> bool:
    return os.environ.get("MCO_REQUIRE_BROKERS", "") not in ("", "0", "false", "no")


def reachable(url: str, timeout: float = 1.0) -> str | None:
    """``None`` if a TCP connection to the URL's host and port succeeds, else why not."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
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


def require_program(name: str, package: str | None = None) -> str:
    """The path of the Debian program ``name`` (``facter``, ``ohai``, ``puppet``), or
    skip the calling test; with ``MCO_REQUIRE_BROKERS=1`` (CI installs every program
    in ``.ci/apt-packages``) a missing program fails it instead."""
    import shutil

    import pytest

    path = shutil.which(name)
    if path is None:
        problem = (f"'{name}' is not installed (Debian package "
                   f"'{package or name}')")
        if brokers_required():
            pytest.fail(f"MCO_REQUIRE_BROKERS=1 but {problem}")
        pytest.skip(problem)
    return path


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
        return cls(parts.hostname or "127.0.0.1",
                   parts.port or DEFAULT_PORTS.get(parts.scheme, 0))

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


def amqp_login(url: str, timeout: float = 1.0) -> str | None:
    """``None`` if an AMQP login with the URL's credentials succeeds, else why not.

    Stronger than :func:`reachable`: a booting RabbitMQ may accept TCP before it
    serves AMQP, and only a login shows that the default user and vhost exist."""
    import amqp

    parts = urlsplit(url)
    host = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}"
    vhost = unquote(parts.path[1:]) or "/"
    conn = amqp.Connection(host, userid=unquote(parts.username or "guest"),
                           password=unquote(parts.password or "guest"), virtual_host=vhost,
                           connect_timeout=timeout, read_timeout=timeout,
                           write_timeout=timeout)
    try:
        conn.connect()
    except Exception as exc:
        try:
            conn.collect()
        except Exception:
            pass
        return f"AMQP login at {host} failed: {type(exc).__name__}: {exc}"
    try:
        conn.close()  # politely: no "client unexpectedly closed" in the broker's log
    except Exception:
        conn.collect()
    return None


def rabbitmq_server_binary() -> str | None:
    """The ``rabbitmq-server`` script to run as the current user, or ``None``.

    Debian's ``/usr/sbin/rabbitmq-server`` is a wrapper that re-runs the real script
    as the ``rabbitmq`` user through ``su`` (which could not use our private
    directories): use the script it wraps, in the same directory as the wrapper."""
    import shutil

    override = os.environ.get("MCO_TEST_RABBITMQ_SERVER")
    candidates = [override] if override else [
        "/usr/lib/rabbitmq/bin/rabbitmq-server", shutil.which("rabbitmq-server"),
        "/usr/sbin/rabbitmq-server", "/usr/local/sbin/rabbitmq-server"]
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        real = os.path.realpath(candidate)
        if os.path.basename(real) == "rabbitmq-script-wrapper":
            real = os.path.join(os.path.dirname(real), "rabbitmq-server")
            if not os.path.exists(real):
                continue
        if os.access(real, os.X_OK):
            return real
    return None


class RabbitMQServer:
    """A private RabbitMQ node on free loopback ports, which a test may stop and start
    again: a real broker restart that disturbs nobody else's RabbitMQ.

    Everything lives in a temporary directory: data (``RABBITMQ_MNESIA_BASE``), logs,
    configuration, an empty plugin list (no management plugin: it starts faster) and
    ``HOME``, so the node has its own Erlang cookie. Its name is unique
    (``mcotest<pid>x<n>@localhost``); it registers with the machine's ``epmd``, and
    starts one if none runs (as every Erlang node does).

    The node runs in the foreground in its own process group. :meth:`stop` asks it to
    shut down (SIGTERM: connections closed with ``connection.close``, as a
    ``systemctl restart`` does) or, with ``graceful=False``, kills the whole group
    (as a crash does: connections just drop). :meth:`restart` keeps the data directory,
    name and port, like a real restart: durable definitions (users, vhosts, durable
    exchanges and queues) survive; transient and exclusive queues, auto-delete
    exchanges, bindings to them and non-persistent messages are lost.
    :meth:`close` stops the node and removes the directory.
    """

    _count = 0

    def __init__(self, *, plugins: tuple[str, ...] = (), config: str = "",
                 cookie: str | None = None) -> None:
        RabbitMQServer._count += 1
        self.binary = rabbitmq_server_binary()
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"mcotest{os.getpid()}x{RabbitMQServer._count}@localhost"
        #: Plugins to enable (``rabbitmq_management`` gets a port of its own).
        self.plugins = plugins
        self.management_port = free_port() if "rabbitmq_management" in plugins else 0
        #: Extra ``rabbitmq.conf`` lines (cluster formation, for instance).
        self.config = config
        #: The Erlang cookie; nodes of one cluster share it.
        self.cookie = cookie
        self.directory: str | None = None
        self.process: Any = None
        self._output: Any = None
        #: Seconds each :meth:`start` took until an AMQP login succeeded.
        self.start_times: list[float] = []

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"

    def ctl(self, *args: str, input: str | None = None, timeout: float = 120) -> str:
        """Run ``rabbitmqctl`` against this node; its output, or RuntimeError."""
        import subprocess

        ctl = os.path.join(os.path.dirname(self.binary or ""), "rabbitmqctl")
        proc = subprocess.run([ctl, "-n", self.node, *args], env=self.env(), input=input,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {proc.stderr or proc.stdout}")
        return proc.stdout

    def _prepare(self) -> str:
        import tempfile

        if self.directory is None:
            self.directory = tempfile.mkdtemp(prefix="mco-rabbitmq-")
            with open(os.path.join(self.directory, "enabled_plugins"), "w") as fh:
                fh.write(f"[{','.join(self.plugins)}].\n")
            with open(os.path.join(self.directory, "rabbitmq-env.conf"), "w") as fh:
                fh.write("# empty: not the system's rabbitmq-env.conf\n")
            with open(os.path.join(self.directory, "rabbitmq.conf"), "w") as fh:
                fh.write("# a private test node\n" + self.config + "\n")
                if self.management_port:
                    fh.write(f"management.tcp.port = {self.management_port}\n"
                             "management.tcp.ip = 127.0.0.1\n")
            if self.cookie is not None:
                cookie = os.path.join(self.directory, ".erlang.cookie")
                with open(cookie, "w") as fh:
                    fh.write(self.cookie)
                os.chmod(cookie, 0o400)
        return self.directory

    def env(self) -> dict[str, str]:
        """The environment of the node (and of ``rabbitmqctl -n`` for this node)."""
        d = self._prepare()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_")) and k != "CONF_ENV_FILE"}
        env.update({
            "HOME": d,  # the node's own Erlang cookie, nothing written to ours
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(d, "plugins-expand"),
            "RABBITMQ_PID_FILE": os.path.join(d, "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Distribution on loopback only.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    def output(self) -> str:
        """What the node printed (its log goes to stdout too), for failure reports."""
        if self.directory is None:
            return ""
        try:
            with open(os.path.join(self.directory, "output.log"), errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> RabbitMQServer:
        """Start the node and wait until an AMQP login succeeds (about 3-5 s on a
        small machine; ``timeout`` is generous for a loaded CI runner)."""
        import subprocess
        import time

        if not self.binary:
            raise RuntimeError("rabbitmq-server is not installed")
        if self.process is not None:
            raise RuntimeError(f"RabbitMQ node {self.node} is already running")
        env = self.env()
        assert self.directory is not None
        started = time.monotonic()
        self._output = open(os.path.join(self.directory, "output.log"), "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [self.binary], env=env, cwd=self.directory, stdin=subprocess.DEVNULL,
            stdout=self._output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + timeout
        problem: str | None = "not tried"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop(graceful=False)
                raise RuntimeError(f"RabbitMQ node {self.node} exited with {code}:\n"
                                   + self.output()[-4000:])
            problem = amqp_login(self.url, 1.0)
            if problem is None:
                self.start_times.append(time.monotonic() - started)
                return self
            time.sleep(0.1)
        self.stop(graceful=False)
        raise RuntimeError(f"RabbitMQ node {self.node} did not accept an AMQP login "
                           f"within {timeout:g}s ({problem}):\n{self.output()[-4000:]}")

    def stop(self, *, graceful: bool = True, timeout: float = 30.0) -> None:
        """Stop the node: SIGTERM and wait (``graceful``), else SIGKILL to its whole
        process group. Returns once the AMQP port is closed."""
        import signal
        import subprocess
        import time

        process, self.process = self.process, None
        if process is not None:
            if graceful and process.poll() is None:
                process.terminate()  # the script forwards it to the VM: a clean stop
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            try:  # whatever is left of the group (the VM, its port programs)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait(10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and reachable(self.url, 0.2) is None:
                time.sleep(0.05)
        if self._output is not None:
            self._output.close()
            self._output = None

    def restart(self, *, graceful: bool = True) -> None:
        """Stop and start again with the same name, port and data (see the class)."""
        self.stop(graceful=graceful)
        self.start()

    def close(self) -> None:
        """Stop the node, whatever its state, and remove its directory."""
        import shutil

        try:
            self.stop(graceful=False)
        finally:
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None

    def __enter__(self) -> RabbitMQServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class NatsServer:
    """A private ``nats-server`` on free loopback ports, which a test may stop and
    start again, configure (``config``: nats-server configuration text such as an
    ``authorization`` or ``tls`` block) and cluster with others (:meth:`cluster`).
    Starts in milliseconds; no JetStream, no state."""

    _count = 0

    def __init__(self, config: str = "", *, scheme: str = "nats") -> None:
        import shutil

        NatsServer._count += 1
        self.binary = shutil.which("nats-server")
        self.port = free_port()
        self.cluster_port = 0
        self.routes: list[int] = []
        self.config = config
        self.scheme = scheme
        self.name = f"mcotest{os.getpid()}n{NatsServer._count}"
        self.directory: str | None = None
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @staticmethod
    def cluster(servers: list[NatsServer]) -> list[NatsServer]:
        """Make ``servers`` one cluster (full mesh of routes); call before start()."""
        for server in servers:
            server.cluster_port = server.cluster_port or free_port()
        for server in servers:
            server.routes = [s.cluster_port for s in servers if s is not server]
        return servers

    def _write_config(self) -> str:
        import tempfile

        if self.directory is None:
            self.directory = tempfile.mkdtemp(prefix="mco-nats-")
        lines = [f"server_name: {self.name}", "host: 127.0.0.1", f"port: {self.port}",
                 self.config]
        if self.cluster_port:
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.routes)
            lines.append(f"cluster {{\n  name: mcotest{os.getpid()}\n"
                         f"  listen: 127.0.0.1:{self.cluster_port}\n"
                         f"  routes: [{routes}]\n}}")
        path = os.path.join(self.directory, "nats-server.conf")
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return path

    def output(self) -> str:
        if self.directory is None:
            return ""
        try:
            with open(os.path.join(self.directory, "output.log"), errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def start(self, timeout: float = 20.0) -> NatsServer:
        import subprocess
        import time

        if not self.binary:
            raise RuntimeError("nats-server is not installed")
        config = self._write_config()
        assert self.directory is not None
        with open(os.path.join(self.directory, "output.log"), "ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", config], stdout=log,
                                            stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}:\n"
                                   + self.output()[-4000:])
            if reachable(f"nats://127.0.0.1:{self.port}", 0.2) is None:
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not listen within {timeout:g}s:\n"
                           + self.output()[-4000:])

    def stop(self, *, graceful: bool = False) -> None:
        """Kill it (as a crash does: connections just drop), or SIGTERM it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            if graceful:
                process.terminate()
            else:
                process.kill()
            process.wait(10)

    def close(self) -> None:
        import shutil

        self.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class RabbitMQCluster:
    """Two or three private RabbitMQ nodes forming one cluster on this machine, each
    on its own ports (see :class:`RabbitMQServer`): one Erlang cookie, and peer
    discovery from a fixed list of the nodes (``classic_config``). The first node
    starts alone; the others start together and join it.

    :meth:`kill` stops one node as a crash would (its connections just drop); the
    others carry on. Per-process queues (exclusive, auto-delete) live on the node the
    declaring connection uses and go with it; their owners declare them again on the
    node they reconnect to. :meth:`close` stops every node and removes its data."""

    def __init__(self, size: int = 3, *, plugins: tuple[str, ...] = ()) -> None:
        if size < 2:
            raise ValueError("a cluster needs two nodes at least")
        import secrets

        cookie = secrets.token_hex(16).upper()
        self.nodes = [RabbitMQServer(plugins=plugins, cookie=cookie) for _ in range(size)]
        # The first node boots alone (looking for peers that are not up yet would
        # cost it retries); the others find it in their list and join it.
        for node in self.nodes[1:]:
            node.config = ("cluster_formation.peer_discovery_backend = classic_config\n"
                           f"cluster_formation.classic_config.nodes.1 = {self.nodes[0].node}\n")
        #: Seconds the whole cluster took to form.
        self.start_time = 0.0

    @property
    def binary(self) -> str | None:
        return self.nodes[0].binary

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self, timeout: float = 180.0) -> RabbitMQCluster:
        import threading
        import time

        started = time.monotonic()
        self.nodes[0].start(timeout)
        errors: list[BaseException] = []

        def boot(node: RabbitMQServer) -> None:
            try:
                node.start(timeout)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=boot, args=(n,)) for n in self.nodes[1:]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.close()
            raise errors[0]
        self.wait_clustered(started + timeout)
        self.start_time = time.monotonic() - started
        return self

    def wait_clustered(self, deadline: float) -> None:
        """Until an exchange declared through the last node is seen through each."""
        import time

        import amqp

        name = f"mco.cluster-check.{os.getpid()}"
        first = self._connect(self.nodes[-1])
        try:
            first.channel().exchange_declare(name, "fanout", durable=False,
                                             auto_delete=False)
            for node in self.nodes:
                while True:
                    conn = self._connect(node)
                    try:
                        conn.channel().exchange_declare(name, "fanout", passive=True)
                        break
                    except amqp.exceptions.NotFound:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"{node.node} did not join the cluster") \
                                from None
                        time.sleep(0.2)
                    finally:
                        _close_quietly(conn)
            first.channel().exchange_delete(name)
        finally:
            _close_quietly(first)

    @staticmethod
    def _connect(node: RabbitMQServer) -> Any:
        import amqp

        conn = amqp.Connection(f"127.0.0.1:{node.port}", userid="guest", password="guest",
                               connect_timeout=10)
        conn.connect()
        return conn

    def kill(self, index: int) -> None:
        """Stop node ``index`` as a crash would (SIGKILL to its process group)."""
        self.nodes[index].stop(graceful=False)

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RabbitMQCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        try:
            conn.collect()
        except Exception:
            pass


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
