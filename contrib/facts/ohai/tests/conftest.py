"""A discovery window that a busy 2-core machine cannot miss: these tests start real
daemons that share the CPU with Facter, Ohai or Puppet runs, and a node whose reply to
discovery came later than the default 0.3 s window would be left out of ``mco find``."""

from __future__ import annotations

import pytest

from mcollective.testing import LocalCollective


@pytest.fixture(autouse=True)
def _patient_discovery(request: pytest.FixtureRequest) -> None:
    if "local_collective" in request.fixturenames:
        collective: LocalCollective = request.getfixturevalue("local_collective")
        collective.client_config = collective.write_client_config(discovery_window=2)
