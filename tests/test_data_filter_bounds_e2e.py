"""Filters that ask data plugins cannot stall a node (issue 11, item 2: "every
user-supplied pattern, in filters, data plugins..." and "filter evaluation must never
block the consumer for longer than a bound").

``-S "fstat('/srv/big.iso').md5=/^0/"`` makes a node digest a file before the request
is authorized. Before the bounds, a root daemon asked for the digest of a huge file
(here a 64 GiB sparse file; ``/proc/kcore`` would do) kept its consumer busy for
minutes, so a handful of such broadcasts from any client credential deafened every
node. Now each query and each request's filter are bounded, and they are matched off
the consumer: pings keep being answered while they arrive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import daemon_stats, ok

from mcollective.client import ClientSession
from mcollective.config import load_config
from mcollective.filters import Filter
from mcollective.testing import LocalCollective
from mcollective.testing.hostile import counting_problems
from mcollective.testing.hostile_patterns import ping_round

NODES = ("data-bound-1.example.net", "data-bound-2.example.net")
#: Distinct huge files: each query its own (no answer is reused).
HUGE_FILES = 12


@pytest.fixture(scope="module")
def collective(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCollective]:
    root = tmp_path_factory.mktemp("data-bounds")
    collective = LocalCollective(root / "collective",
                                 extra_config={"max_filter_seconds": 2})
    try:
        for identity in NODES:
            collective.add_node(identity, wait=False)
        for node in collective.nodes.values():
            collective.wait_ready(node)
        yield collective
    finally:
        collective.stop_all()


def huge_files(directory: Path) -> list[Path]:
    directory.mkdir(exist_ok=True)
    paths = []
    for number in range(HUGE_FILES):
        path = directory / f"huge-{number}.img"
        with open(path, "wb") as fh:
            fh.truncate(64 << 30)  # holes: no disk used, minutes to digest
        paths.append(path)
    return paths


def test_pings_are_answered_while_digest_filters_arrive(collective: LocalCollective,
                                                        tmp_path: Path) -> None:
    paths = huge_files(tmp_path / "files")
    # One request per huge file, and requests asking all of them at once (one filter
    # whose queries together would take far longer than max_filter_seconds).
    filters = [f"fstat('{p}').md5=/^0/" for p in paths]
    filters += [" and ".join(f"fstat('{p}').md5=/^0/" for p in paths)] * 3
    before = {i: daemon_stats(collective, i) for i in NODES}
    with ClientSession(load_config(collective.client_config)) as session:
        session.connect()
        for compound in filters:
            wire = Filter.build(compound=[compound]).to_dict()
            session.publish(session.new_request("rpcutil", "ping", {}, filter=wire))
        # The same moment: every node answers a broadcast ping. Waited for by name (a
        # `mco ping` would end at its discovery window): before the bounds no node
        # answered within minutes; the bound is generous for a busy CI machine.
        for _ in range(3):
            took, answered = ping_round(session, list(NODES), timeout=60.0)
            assert took is not None, f"only {sorted(answered)} answered within 60 s"
            assert took < 20, f"a ping took {took:.1f} s while digests were asked"
    # Every hostile request ends filtered (no digest finished in time, or the queue was
    # full), and each node's counters still add up.
    deadline = time.monotonic() + 120
    for identity in NODES:
        while True:
            after = daemon_stats(collective, identity)
            if after["filtered"] - before[identity]["filtered"] >= len(filters):
                break
            assert time.monotonic() < deadline, (after, before[identity])
            time.sleep(1)
        assert not counting_problems(after), counting_problems(after)
        assert collective.nodes[identity].alive()
    log = collective.nodes[NODES[0]].log()
    assert "gave up digesting" in log or "ran out of time" in log, log[-3000:]


def test_data_filters_still_select_nodes(collective: LocalCollective, tmp_path: Path
                                         ) -> None:
    """Matched off the consumer, a data filter selects exactly as before."""
    marker = tmp_path / "marker"
    marker.write_text("hello\n")
    proc = ok(collective.mco("rpc", "rpcutil", "ping", "-S",
                             f"fstat('{marker}').md5=/^b1946ac9/", "--json-format",
                             "mcollective"))
    assert sorted(r["sender"] for r in json.loads(proc.stdout)) == sorted(NODES)
    proc = collective.mco("rpc", "rpcutil", "ping", "-S",
                          f"fstat('{marker}').size>100", "--dt", "1")
    assert proc.returncode != 0 and "No request sent, we did not discover any nodes" \
        in proc.stderr + proc.stdout, proc.stdout + proc.stderr
