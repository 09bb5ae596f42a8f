"""The README's demo runs and shows discovery and RPC working."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_cleanly() -> None:
    proc = subprocess.run([sys.executable, "-m", "mcollective.demo"], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "3 replies max:" in out
    assert "Report for fact: role" in out
    assert "Finished processing 1 / 1 hosts" in out
    assert "Demo finished successfully" in out
    assert out.count("stopped (exit code 0)") == 3
