"""Fuzz a real daemon with hostile messages on RabbitMQ and Redis (issue 11): see
``mcollective.testing.fuzz`` and bench/README.md. Exit status 1 if the daemon crashed,
went deaf, or did not count every message in exactly one category."""

from __future__ import annotations

import sys

from mcollective.testing.fuzz import main

if __name__ == "__main__":
    sys.exit(main())
