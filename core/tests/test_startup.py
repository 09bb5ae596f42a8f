"""Start-up does only what the command needs (issue 14): checked by what gets
imported, not by timing (timings are bench/cli.py's business)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("rich", "kombu", "pluggy", "stevedore", "yaml", "voluptuous",
         "mcollective.plugins", "mcollective.config", "mcollective.hookspecs")


def imported_after(code: str) -> set[str]:
    """Top-level and mcollective modules loaded by ``code`` in a fresh interpreter."""
    probe = textwrap.dedent(code) + textwrap.dedent("""
        import json as _json, sys as _sys
        print(_json.dumps(sorted(_sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_version_imports_nothing_heavy() -> None:
    modules = imported_after("""
        from mcollective.cli.main import main
        main(["--version"])
    """)
    assert not {m for m in HEAVY if m in modules}


def test_importing_the_package_loads_no_plugin_machinery() -> None:
    modules = imported_after("import mcollective")
    assert "pluggy" not in modules and "mcollective.hookspecs" not in modules


def test_hookimpl_is_still_importable_from_the_package() -> None:
    from mcollective import hookimpl
    from mcollective.hookspecs import hookimpl as real

    assert hookimpl is real


def test_client_ddl_is_read_without_importing_the_agent() -> None:
    modules = imported_after("""
        from mcollective.client.rpc import load_client_ddl
        from mcollective.config import load_config
        from mcollective.plugins import make_plugin_manager
        ddl = load_client_ddl(make_plugin_manager(), load_config(None, role="client"),
                              "rpcutil")
        assert ddl is not None and ddl.action("ping") is not None
    """)
    assert "mcollective.agent" not in modules
    assert "mcollective.agents.rpcutil" not in modules
    # Its validation patterns are compiled when an action's inputs first are: rpcutil
    # ping has none, so no regular expression engine is loaded for it.
    assert "re2" not in modules


def test_a_client_ddl_checks_its_patterns_when_inputs_are_validated() -> None:
    import pytest

    from mcollective.ddl import AgentDDL
    from mcollective.errors import DDLError

    doc = {"$schema": "https://choria.io/schemas/mcorpc/ddl/v1/agent.json",
           "metadata": {"name": "x", "description": "x", "author": "x", "license": "x",
                        "version": "1", "url": "https://x", "timeout": 5},
           "actions": [{"action": "go", "description": "x", "display": "always",
                        "input": {"arg": {"prompt": "a", "description": "a",
                                          "type": "string", "validation": "(a",
                                          "maxlength": 10, "optional": False}},
                        "output": {}}]}
    with pytest.raises(DDLError, match="not a valid regular expression"):
        AgentDDL.from_dict(doc)
    lazy = AgentDDL.from_dict(doc, check_patterns=False)
    with pytest.raises(DDLError, match="not a valid regular expression"):
        lazy.action("go").validate({"arg": "a"})


def test_output_and_the_rpc_application_import_rich_only_when_printing() -> None:
    modules = imported_after("""
        import mcollective.cli.agentapp, mcollective.cli.output
        import mcollective.cli.apps.rpc, mcollective.cli.apps.ping
    """)
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}


def test_the_mc_discovery_method_does_not_load_the_list_methods() -> None:
    modules = imported_after("""
        from mcollective.discovery_methods import MCDiscovery
    """)
    assert "mcollective.discovery_methods.inventory" not in modules
    assert "yaml" not in modules


def test_lazy_discovery_names_still_resolve() -> None:
    import mcollective.discovery_methods as methods

    assert methods.InventoryDiscovery.name == "inventory"
    assert callable(methods.parse_node_list)
