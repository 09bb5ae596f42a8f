"""schemathesis against the console's OpenAPI document: requests generated from the
schema (valid and invalid ones) to every operation of a real console on a real
collective; none may get a server error (5xx)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from webconsole_helpers import Console, start_fleet

from mcollective.testing import LocalCollective

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES = int(os.environ.get("MCO_WEB_FUZZ_EXAMPLES", "25"))


def test_no_server_errors(tmp_path: Path) -> None:
    collective = LocalCollective(tmp_path / "collective", extra_config={
        # Generated filters mostly match nothing: discovery then waits its timeout.
        "discovery_timeout": 0.5})
    try:
        start_fleet(collective, {"web1.example.net": ({"role": "web"}, ["base"])})
        console = Console(collective, tmp_path / "console", settings={
            "login_rate": "100000/minute", "api_rate": "100000/minute",
            "request_rate": "100000/minute", "max_timeout": 2,
            "max_discovery_timeout": 1, "node_timeout": 1}).start()
        try:
            api = console.api("alice")
            token = api.headers["Authorization"]
            st = Path(sys.executable).with_name("st")
            proc = subprocess.run(
                [str(st), "run", f"{console.url}/api/v1/openapi.json",
                 "--checks", "not_a_server_error", "--header", f"Authorization:{token}",
                 "--max-examples", str(EXAMPLES), "--generation-deterministic",
                 "--request-timeout", "30", "--phases", "examples,coverage,fuzzing",
                 # Signing out would end the token the rest of the run uses.
                 "--exclude-path", "/api/v1/logout"],
                capture_output=True, text=True, timeout=540, cwd=tmp_path,
                env={**os.environ, "SCHEMATHESIS_HOOKS": ""}, check=False)
            report = proc.stdout[-6000:] + proc.stderr[-2000:]
            assert proc.returncode == 0, report
            counts = re.search(r"(\d+) generated, (\d+) passed", proc.stdout)
            assert counts and counts.group(1) == counts.group(2), report
            assert int(counts.group(1)) > 200, report
            assert re.search(r"Tested: 2\d", proc.stdout), report  # every operation
            # Calls that reached the collective (the examples name real agents).
            history = api.get("/api/v1/history", params={"limit": 500}).json()
            assert any(e["kind"] == "rpc" and e["status"] == "finished"
                       for e in history), report
        finally:
            console.stop()
        assert "Traceback" not in console.log(), console.log()[-3000:]
    finally:
        collective.stop_all()
