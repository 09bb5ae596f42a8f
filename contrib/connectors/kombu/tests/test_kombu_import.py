"""The connector plugin imports kombu without PyYAML (issue 14: a fifth of kombu's
import cost, for a serializer this connector never uses), yet kombu's ``yaml``
serializer still works for whoever asks for it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return dict(json.loads(out.splitlines()[-1]))


def test_the_connector_loads_kombu_without_pyyaml() -> None:
    seen = run("""
        import json, sys
        from mcollective.config import config_from_text
        from mcollective.plugins import make_plugin_manager
        make_plugin_manager().create_connector(config_from_text("connector = kombu"))
        import kombu.messaging
        print(json.dumps({"yaml": "yaml" in sys.modules,
                          "kombu": "kombu.serialization" in sys.modules}))
    """)
    assert seen == {"yaml": False, "kombu": True}


def test_kombus_yaml_serializer_imports_pyyaml_when_used() -> None:
    seen = run("""
        import json, sys
        from mcollective_connector_kombu import import_kombu
        import_kombu()
        from kombu.serialization import dumps, loads
        content_type, encoding, body = dumps({"a": [1, 2]}, serializer="yaml")
        back = loads(body, content_type, encoding, accept={"application/x-yaml"})
        print(json.dumps({"type": content_type, "back": back,
                          "yaml": "yaml" in sys.modules}))
    """)
    assert seen == {"type": "application/x-yaml", "back": {"a": [1, 2]}, "yaml": True}


def test_yaml_imported_first_is_left_alone() -> None:
    seen = run("""
        import json, sys
        import yaml
        from mcollective_connector_kombu import import_kombu
        import_kombu()
        from kombu.serialization import registry
        print(json.dumps({"same": registry._encoders["yaml"].encoder is yaml.safe_dump}))
    """)
    assert seen == {"same": True}


def test_importlib_metadata_stays_usable_after_kombu_is_loaded_lazily() -> None:
    """kombu's compat module gets the standard library's lazy importlib.metadata:
    nothing runs until it is used, and then it is the real module."""
    seen = run("""
        import json, sys
        from mcollective_connector_kombu import import_kombu
        import_kombu()
        lazy = type(sys.modules["importlib.metadata"]).__name__
        import kombu.utils.compat as compat
        from importlib.metadata import version
        names = [ep.name for ep in compat.importlib_metadata.entry_points(
            group="mcollective.connectors")]
        print(json.dumps({"lazy": lazy, "kombu": version("kombu"), "names": names,
                          "after": type(sys.modules["importlib.metadata"]).__name__}))
    """)
    assert seen["lazy"] == "_LazyModule"
    assert seen["after"] == "module"
    assert seen["kombu"] and "kombu" in seen["names"]  # type: ignore[operator]
