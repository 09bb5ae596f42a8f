"""ping and connect against sockets opened by the test on this machine."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import pytest

from mcollective.errors import DDLValidationError


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full, so new handshakes go unanswered: the
    kernel drops their SYNs, which is what a filtered port looks like."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    clients = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        clients.append(client)
    try:
        yield port
    finally:
        for client in clients:
            client.close()
        server.close()


def test_connect_to_an_open_port(make_agent, call, listener) -> None:
    reply = call(make_agent(), "connect", fqdn="127.0.0.1", port=listener)
    assert reply.statuscode == 0, reply.statusmsg
    assert reply["connect"] is True
    assert reply["connect_status"] == "Connected"
    assert isinstance(reply["connect_time"], float) and 0 <= reply["connect_time"] < 2


def test_connect_by_name(make_agent, call, listener) -> None:
    with socket.socket(socket.AF_INET6) as sock6:
        # localhost may resolve to ::1 first; listen there too on the same port if we can.
        try:
            sock6.bind(("::1", listener))
            sock6.listen(1)
        except OSError:
            pass
        reply = call(make_agent(), "connect", fqdn="localhost", port=listener)
    assert reply["connect"] is True


def test_connect_refused(make_agent, call, closed_port) -> None:
    reply = call(make_agent(), "connect", fqdn="127.0.0.1", port=closed_port)
    assert reply.statuscode == 0
    assert reply["connect"] is False
    assert reply["connect_status"] == "Connection Refused"
    assert reply["connect_time"] is None


def test_connect_timeout(make_agent, call, full_backlog) -> None:
    agent = make_agent("plugin.nettest.connect_timeout = 0.5\n")
    reply = call(agent, "connect", fqdn="127.0.0.1", port=full_backlog)
    assert reply["connect"] is False
    assert reply["connect_status"] == "Connection Timeout"


def test_connect_port_out_of_range(make_agent, call) -> None:
    reply = call(make_agent(), "connect", fqdn="127.0.0.1", port=70000)
    assert reply.statuscode == 4
    assert "between 1 and 65535" in reply.statusmsg


def test_unresolvable_host_aborts(make_agent, call) -> None:
    reply = call(make_agent(), "connect", fqdn="no-such-host.invalid", port=80)
    assert reply.statuscode == 1
    assert "Could not resolve 'no-such-host.invalid'" in reply.statusmsg
    assert call(make_agent(), "ping", fqdn="no-such-host.invalid").statuscode == 1


def test_ping_localhost(make_agent, call) -> None:
    reply = call(make_agent(), "ping", fqdn="127.0.0.1")
    assert reply.statuscode == 0, reply.statusmsg
    assert isinstance(reply["rtt"], float) and reply["rtt"] >= 0
    if shutil.which("ping") is None:
        assert "no ping program" in reply.statusmsg
    else:
        assert reply.statusmsg == "OK"


def test_tcp_ping_by_configuration(make_agent, call, listener) -> None:
    agent = make_agent(f"plugin.nettest.ping_method = tcp\n"
                       f"plugin.nettest.tcp_ping_port = {listener}\n")
    reply = call(agent, "ping", fqdn="127.0.0.1")
    assert reply.statuscode == 0
    assert "by configuration" in reply.statusmsg
    assert reply["rtt"] >= 0


def test_tcp_ping_without_an_answer(make_agent, call, full_backlog) -> None:
    agent = make_agent(f"plugin.nettest.ping_method = tcp\n"
                       f"plugin.nettest.tcp_ping_port = {full_backlog}\n"
                       f"plugin.nettest.ping_timeout = 0.5\n")
    reply = call(agent, "ping", fqdn="127.0.0.1")
    assert reply.statuscode == 1
    assert "did not answer" in reply.statusmsg
    assert reply["rtt"] is None


@pytest.mark.skipif(shutil.which("ping") is not None, reason="this node has ping")
def test_ping_method_ping_without_the_program(make_agent, call) -> None:
    reply = call(make_agent("plugin.nettest.ping_method = ping\n"), "ping", fqdn="127.0.0.1")
    assert reply.statuscode == 1
    assert "no ping program" in reply.statusmsg


@pytest.mark.parametrize("host", ["a;b", "host name", "-oops", "x" * 81, "a..b"])
def test_fqdn_validation(make_agent, call, host: str) -> None:
    with pytest.raises(DDLValidationError, match="'fqdn'"):
        call(make_agent(), "ping", fqdn=host)


def test_bad_setting_is_a_config_error(make_agent) -> None:
    from mcollective.errors import ConfigError

    with pytest.raises(ConfigError, match="ping_method"):
        make_agent("plugin.nettest.ping_method = carrier-pigeon\n")
