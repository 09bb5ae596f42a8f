"""Failover lists, credentials, TLS and SQS options; failing over to a live broker."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from mcollective.config import config_from_text
from mcollective.testing.brokers import free_port
from mcollective_connector_kombu.connector import KombuConnector, backoff
from mcollective_connector_kombu.options import ENV_PASSWORD, ENV_USER, load_options


def options(text: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_options("kombu", config_from_text(f"identity = n1\nstatedir = {tmp_path}\n"
                                                  f"{text}"))


def test_failover_list(tmp_path: Path) -> None:
    opts = options("plugin.kombu.url = amqp://u:pw@a:5672//, amqp://u:pw@b:5672//;"
                   "amqps://c//\n", tmp_path)
    assert [b.url for b in opts.brokers] == ["amqp://u:pw@a:5672//", "amqp://u:pw@b:5672//",
                                            "amqps://c//"]
    assert opts.broker == opts.brokers[0]
    assert "pw" not in opts.display and "b:5672" in opts.display


def test_credentials_url_then_config_then_environment(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_USER, "envuser")
    monkeypatch.setenv(ENV_PASSWORD, "env/pass")
    from_env = options("plugin.kombu.url = amqp://rabbit//\n", tmp_path)
    assert from_env.broker.url == "amqp://envuser:env%2Fpass@rabbit//"
    from_config = options("plugin.kombu.url = amqp://rabbit//\nplugin.kombu.user = cfg\n"
                          "plugin.kombu.password = secret\n", tmp_path)
    assert from_config.broker.url == "amqp://cfg:secret@rabbit//"
    own = options("plugin.kombu.url = amqp://mine:x@rabbit//\n", tmp_path)
    assert own.broker.url == "amqp://mine:x@rabbit//"
    assert "secret" not in from_config.display


def test_tls_options_per_transport(tmp_path: Path) -> None:
    plain = options("plugin.kombu.url = amqp://rabbit//\n", tmp_path)
    assert plain.tls is None
    amqps = options("plugin.kombu.url = amqps://rabbit//\nplugin.kombu.ssl_ca = /ca.pem\n"
                    "plugin.kombu.ssl_cert = /c.pem\nplugin.kombu.ssl_key = /k.pem\n", tmp_path)
    assert amqps.tls is not None
    assert amqps.tls.for_family("amqp") == {"cert_reqs": ssl.CERT_REQUIRED,
                                            "ca_certs": "/ca.pem", "certfile": "/c.pem",
                                            "keyfile": "/k.pem"}
    rediss = options("plugin.kombu.url = rediss://r:6380/0\n"
                     "plugin.kombu.ssl_verify = false\n", tmp_path)
    assert rediss.tls is not None
    assert rediss.tls.for_family("redis") == {"ssl_cert_reqs": ssl.CERT_NONE}


def test_sqs_options(tmp_path: Path) -> None:
    opts = options("plugin.kombu.url = sqs://\nplugin.kombu.sqs_region = eu-west-1\n"
                   "plugin.kombu.sqs_wait_time = 99\n", tmp_path)
    assert opts.broker.family == "sqs"
    assert (opts.sqs_region, opts.sqs_wait_time, opts.sqs_retention) == ("eu-west-1", 20, 60)
    assert opts.polling_interval == 0.05


def test_backoff_is_jittered_within_half_to_full() -> None:
    pauses = [backoff(2.0) for _ in range(200)]
    assert all(1.0 <= p <= 2.0 for p in pauses)
    assert len(set(pauses)) > 100


@pytest.mark.parametrize("family", [pytest.param("amqp", marks=pytest.mark.broker("amqp")),
                                    pytest.param("redis", marks=pytest.mark.broker("redis"))])
def test_fails_over_to_the_next_broker(family: str, tmp_path: Path, amqp_url: str,
                                       redis_url: str) -> None:
    live = amqp_url if family == "amqp" else redis_url
    dead = (f"amqp://guest:guest@127.0.0.1:{free_port()}//" if family == "amqp"
            else f"redis://127.0.0.1:{free_port()}/0")
    connector = KombuConnector(options(f"plugin.kombu.url = {dead}, {live}\n", tmp_path))
    try:
        connector.connect(timeout=10)
        info = connector.describe()
        assert info["broker"] != info["url"].split(", ")[0]
        assert info["connected"]
    finally:
        connector.close()
