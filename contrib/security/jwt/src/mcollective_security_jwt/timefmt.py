"""Times as people read and write them: validity periods (``1h``, ``90d``, ``1h30m``)
and token timestamps in messages (UTC, plus how long ago or ahead)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"(\d+)([smhdwy])")


def parse_duration(text: str) -> timedelta:
    """``90`` (seconds), ``30m``, ``1h30m``, ``7d``, ``2w``, ``1y``; ValueError if not."""
    compact = text.strip().lower().replace(" ", "")
    if compact.isdigit():
        seconds = int(compact)
    else:
        pos, seconds = 0, 0
        for match in _PART.finditer(compact):
            if match.start() != pos:
                break
            seconds += int(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not compact or pos != len(compact):
            raise ValueError(f"{text!r} is not a duration (examples: 3600, 45m, 1h30m, "
                             "7d, 2w, 1y)")
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def when(timestamp: float) -> str:
    """``2024-05-01 12:00:00 UTC``."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"unix time {timestamp}"


def span(seconds: float) -> str:
    """A rough human length: ``42s``, ``12m``, ``3h5m``, ``20d``."""
    seconds = int(abs(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 3 * 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours}h{rest // 60}m" if rest >= 60 else f"{hours}h"
    return f"{seconds // 86400}d"


def relative(timestamp: float, now: float) -> str:
    """``2024-05-01 12:00:00 UTC, 5m ago`` / ``..., in 3h``."""
    delta = timestamp - now
    return f"{when(timestamp)}, {'in ' + span(delta) if delta > 0 else span(delta) + ' ago'}"
