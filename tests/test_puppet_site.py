"""A Puppet site's node as the issue describes it: facts from Debian's real Facter,
external facts and YAML combined in the documented precedence, and the puppet agent,
through real daemons and the real ``mco``.

Needs Debian's ``facter`` and ``puppet``: skipped without them, failed instead with
``MCO_REQUIRE_BROKERS=1`` (CI installs both, .ci/apt-packages).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mcollective.testing import LocalCollective
from mcollective.testing.brokers import require_program


def test_combined_sources_precedence_and_the_puppet_agent(tmp_path: Path) -> None:
    require_program("facter")
    require_program("puppet")
    facts_d = tmp_path / "facts.d"
    facts_d.mkdir()
    (facts_d / "site.txt").write_text("datacenter=ams3\nrole=from-external\n")
    puppet_dirs = {name: tmp_path / "puppet" / name for name in
                   ("confdir", "vardir", "publicdir", "rundir", "logdir", "codedir")}
    manifest = tmp_path / "site.pp"
    manifest.write_text("notify { 'hi': }\n")
    puppet_settings = {f"plugin.puppet.{k}": str(v) for k, v in puppet_dirs.items()}
    puppet_settings.update({"plugin.puppet.run_mode": "apply",
                            "plugin.puppet.apply_manifest": str(manifest)})
    with LocalCollective(tmp_path / "c") as collective:
        # Facter and Puppet share the CPU with the daemons: a discovery window a busy
        # machine cannot miss.
        collective.client_config = collective.write_client_config(discovery_window=2)
        # system < facter < external < yaml: YAML's role wins over the external one,
        # Facter's structured os replaces the system source's os whole.
        collective.add_node("web1", facts={"role": "web"}, settings={
            "factsource": "system, facter, external, yaml",
            "plugin.external_facts.directory": str(facts_d), **puppet_settings})
        # yaml after facter: a hand-written os overrides Facter's.
        collective.add_node("odd1", facts={"os": {"family": "Custom"}}, settings={
            "factsource": "facter, yaml"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = collective.mco("find", "-F", "os.family=Debian", "-F",
                                   "datacenter=ams3").stdout.split()
            if found == ["web1"]:
                break
            time.sleep(1)
        assert found == ["web1"]
        assert collective.mco("find", "-F", "role=web").stdout.split() == ["web1"]
        assert collective.mco("find", "-F", "os.family=Custom").stdout.split() == ["odd1"]
        os_fact = json.loads(collective.mco("rpc", "rpcutil", "get_fact", "fact=os", "-I",
                                            "web1", "-j").stdout)["replies"][0]["data"]["value"]
        assert "selinux" in os_fact  # Facter's os, not the system source's
        # The puppet agent answers on the same node.
        count = collective.mco("puppet", "count", "-I", "web1")
        assert "Total Puppet nodes: 1" in count.stdout, count.stdout + count.stderr
        assert "Nodes currently enabled: 1" in count.stdout
