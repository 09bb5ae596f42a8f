"""How long ``mco ping`` takes to fail when its only broker refuses the connection.

A refusal (nothing listens: ECONNREFUSED) is a definite answer, so a client fails at
once instead of retrying for its ``connection_timeout``. Measured against the cost of
starting ``mco`` at all (``mco --version``) in the same run, with a connection_timeout
of 60 s that a retrying client would wait out.

    .venv/bin/python bench/connect_refused.py
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MCO = str(Path(sys.executable).parent / "mco")
RUNS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(*args: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run([MCO, *args], env=env, capture_output=True, timeout=120, check=False)
    return time.monotonic() - started


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "client.cfg"
        config.write_text(f"plugin.kombu.url = amqp://guest:guest@127.0.0.1:{free_port()}//\n"
                          "plugin.psk = bench\nconnection_timeout = 60\n")
        config.chmod(0o600)  # it holds the psk
        env = {**os.environ, "XDG_STATE_HOME": tmp}
        baseline = statistics.median(timed("--version", env=env) for _ in range(RUNS))
        refused = statistics.median(timed("ping", "-c", str(config), env=env)
                                    for _ in range(RUNS))
    print(f"mco --version (start-up):             {baseline:6.3f} s")
    print(f"mco ping, broker refuses (timeout 60): {refused:6.3f} s")
    print(f"ratio: {refused / baseline:.1f}x start-up; {60 / refused:.0f}x faster than "
          "waiting out connection_timeout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
