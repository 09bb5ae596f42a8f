"""Delivery tags for kombu's virtual channels without a system call per message."""

from __future__ import annotations

import itertools
import secrets


class CountedDeliveryTags:
    """kombu's virtual channels (memory, Redis, filesystem) tag every message they
    publish or deliver with a fresh ``uuid4``: an ``os.urandom`` system call each, an
    eighth of a client's time when ingesting replies on memory://. A tag only has to
    be unique (AMQP brokers use a counter per channel): a random prefix per channel
    and a counter are, across processes too."""

    _mco_tag_prefix: str = ""
    _mco_tag_counter: itertools.count[int] | None = None

    def _next_delivery_tag(self) -> str:
        counter = self._mco_tag_counter
        if counter is None:
            self._mco_tag_prefix = secrets.token_hex(8)
            counter = self._mco_tag_counter = itertools.count(1)
        return f"{self._mco_tag_prefix}-{next(counter)}"
