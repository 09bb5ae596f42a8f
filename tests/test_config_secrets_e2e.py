"""Configuration secrets, against real daemons (issue 11, items 5 and 9).

* ``rpcutil get_config_item`` used to return ``plugin.kombu.url`` with its password in
  clear; every URL-valued setting is now masked, and settings a plugin marks secret
  (``plugin.kombu.password``) are never disclosed.
* A daemon used to accept ``plugin.psk`` from a world-readable ``server.cfg`` or
  ``plugin.d`` fragment silently, while it refuses a key file with that mode.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import require_broker

NODE = "secrets.example.net"


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCollective]:
    url = require_broker("amqp")
    assert "guest:guest@" in url or "@" in url, "the test needs a URL with credentials"
    collective = LocalCollective(tmp_path_factory.mktemp("secrets") / "collective",
                                 collectives=(f"secrets_{uuid.uuid4().hex[:10]}",),
                                 connector_url=url)
    try:
        collective.add_node(NODE, settings={"plugin.kombu.password": "not-for-your-eyes",
                                            "plugin.yaml": None})
        yield collective
    finally:
        collective.stop_all()


def config_item(collective: LocalCollective, item: str) -> dict[str, object]:
    proc = collective.mco("rpc", "rpcutil", "get_config_item", f"item={item}", "-I", NODE,
                          "--json-format", "mcollective")
    assert proc.returncode in (0, 2), proc.stderr  # 2: the node answered with a failure
    [reply] = json.loads(proc.stdout)
    return reply


@pytest.mark.broker("amqp")
def test_get_config_item_masks_url_credentials(rabbit: LocalCollective) -> None:
    reply = config_item(rabbit, "plugin.kombu.url")
    assert reply["statuscode"] == 0, reply
    value = str(reply["data"]["value"])  # type: ignore[index]
    assert ":****@" in value, value
    assert value.split("@", 1)[1] == str(rabbit.connector_url).split("@", 1)[1]


@pytest.mark.broker("amqp")
@pytest.mark.parametrize("item", ["plugin.kombu.password", "plugin.psk"])
def test_get_config_item_never_discloses_secrets(rabbit: LocalCollective, item: str) -> None:
    reply = config_item(rabbit, item)
    assert reply["statuscode"] == 1
    assert "is secret and is not disclosed" in str(reply["statusmsg"])
    assert "not-for-your-eyes" not in json.dumps(reply)


@pytest.mark.parametrize("where", ["server.cfg", "plugin.d"])
def test_daemon_refuses_secrets_in_a_world_readable_file(tmp_path: pytest.TempPathFactory,
                                                         where: str) -> None:
    collective = LocalCollective(tmp_path / "collective")  # type: ignore[operator]
    node = collective.add_node("exposed.example.net", start=False)
    if where == "plugin.d":
        # plugin.d/kombu.cfg's "password" is plugin.kombu.password, which the kombu
        # connector marks secret.
        fragment = node.directory / "plugin.d" / "kombu.cfg"
        fragment.parent.mkdir()
        fragment.write_text("password = not-for-your-eyes\n")
        fragment.chmod(0o644)
        exposed, key = fragment, "plugin.kombu.password"
    else:
        node.config.chmod(0o644)
        exposed, key = node.config, "plugin.psk"
    collective.start(node, wait=False)
    assert node.process is not None
    try:
        code = node.process.wait(60)
    except subprocess.TimeoutExpired:
        node.stop()
        raise AssertionError("the daemon started with a world-readable secret") from None
    stderr = (node.directory / "stderr.log").read_text() + node.log()
    assert code != 0
    assert f"{exposed}:" in stderr and f"key '{key}'" in stderr, stderr
    assert "holds a secret, but the file has mode 0644" in stderr
    assert "Traceback" not in stderr
