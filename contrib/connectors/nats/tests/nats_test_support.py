"""Helpers of the NATS connector's tests: a contract factory, a probe that asks the
server whether anyone still listens on a subject, and connectors from settings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mcollective.config import config_from_text
from mcollective.connector import Connector
from mcollective.plugins import make_plugin_manager
from mcollective.testing.contracts import FENCE_AGENT, ConnectorFactory
from mcollective_connector_nats import subjects
from mcollective_connector_nats.connector import NatsConnector


def listening(url: str, names: list[str], **connect: Any) -> set[str]:
    """Which of ``names`` someone subscribes to, asked of the server itself: a request
    to a subject nobody subscribes to gets NATS's "no responders" status at once; one
    that reaches a subscriber (which never answers) times out."""
    import nats
    from nats.errors import NoRespondersError, TimeoutError

    async def probe() -> set[str]:
        nc = await nats.connect(url, allow_reconnect=False, **connect)
        found = set()
        try:
            for name in names:
                try:
                    await nc.request(name, b"probe: is anyone there?", timeout=0.5)
                    found.add(name)
                except NoRespondersError:
                    pass
                except TimeoutError:
                    found.add(name)
        finally:
            await nc.close()
        return found

    return asyncio.run(probe())


class NatsFactory(ConnectorFactory):
    def __init__(self, root: Path, url: str, **extra: Any) -> None:
        super().__init__(root)
        self.url = url
        self.extra = extra
        self.seen: set[str] = set()

    def settings(self, identity: str) -> dict[str, Any]:
        return {"connector": "nats", "plugin.nats.url": self.url,
                **{f"plugin.nats.{k}": v for k, v in self.extra.items()}}

    def nats_connectors(self) -> list[NatsConnector]:
        return [c for c in self.created if isinstance(c, NatsConnector)]

    def leftovers(self, collective: str) -> set[str]:
        for connector in self.nats_connectors():
            info = connector.describe()
            for identity, sub in info["nodes"].items():
                for c in sub["collectives"]:
                    self.seen.add(subjects.direct(c, identity))
                    self.seen.update(subjects.broadcast(c, a)
                                     for a in [*sub["agents"], FENCE_AGENT])
            if info["reply_subject"]:
                self.seen.add(info["reply_subject"])
        names = sorted(n for n in self.seen if n.startswith(f"{collective}."))
        return listening(self.url, names)

    def inject(self, node: Connector, collective: str, identity: str, agent: str,
               payload: bytes) -> int:
        """Raw on the broadcast and direct subjects: NATS has no envelope, so each is
        handed to the node as a body (the daemon judges it)."""
        import nats

        async def publish() -> None:
            nc = await nats.connect(self.url, allow_reconnect=False)
            try:
                await nc.publish(subjects.broadcast(collective, agent), payload)
                await nc.publish(subjects.direct(collective, identity), payload)
                await nc.flush()
            finally:
                await nc.close()

        asyncio.run(publish())
        return 2

    def crash(self, connector: Connector) -> bool:
        assert isinstance(connector, NatsConnector)
        connector.abandon()
        return True


def nats_config(url: str, identity: str = "n1", collectives: str = "mcollective",
                **settings: Any) -> Any:
    lines = {"identity": identity, "collectives": collectives, "connector": "nats",
             "plugin.nats.url": url, "securityprovider": "contracttest",
             "factsource": "", "classesfile": "/nonexistent", **settings}
    return config_from_text("".join(f"{k} = {v}\n" for k, v in lines.items()))


def nats_connector(url: str, identity: str = "n1", collectives: str = "mcollective",
                   **settings: Any) -> NatsConnector:
    plugins = make_plugin_manager()
    connector = plugins.create_connector(nats_config(url, identity, collectives, **settings))
    assert isinstance(connector, NatsConnector)
    return connector
