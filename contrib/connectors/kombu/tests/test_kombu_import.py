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
