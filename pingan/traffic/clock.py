"""Time helpers of the simulator: durations, start times, local (+08:00) hours and the rhythm.

All event times are whole seconds since the epoch (``int``); local time is China Standard Time
(UTC+08:00, no daylight saving), so the local hour and weekday are plain arithmetic.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from pingan.errors import ConfigError

CST = timezone(timedelta(hours=8))
HOUR = 3600
DAY = 86_400
_OFFSET = 8 * HOUR

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY, None: 1}


def parse_duration(text: str) -> float:
    """``30m``, ``6h``, ``7d``, ``1h30m``, ``90`` (seconds) -> seconds."""
    cleaned = text.strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(cleaned):
        if match.start() != pos or not match.group(0):
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or not cleaned:
        raise ConfigError(f"invalid duration {text!r}: use e.g. 90s, 30m, 6h, 7d or 1h30m")
    if total <= 0:
        raise ConfigError(f"invalid duration {text!r}: must be positive")
    return total


def parse_start(text: str) -> int:
    """An RFC 3339 / ISO time (``2026-11-29T08:00:00+08:00``; without offset: +08:00) -> epoch s."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(f"invalid start time {text!r}: use e.g. 2026-11-29T08:00:00+08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    return int(moment.timestamp())


def iso(ts: int) -> str:
    """``2026-11-29T21:14:03+08:00``."""
    return datetime.fromtimestamp(ts, CST).isoformat()


def local_hour(ts: float) -> int:
    return int((ts + _OFFSET) // HOUR) % 24


def local_weekday(ts: float) -> int:
    """Monday 0 … Sunday 6 (1970-01-01 was a Thursday)."""
    return (int((ts + _OFFSET) // DAY) + 3) % 7


def local_seconds(ts: float) -> int:
    """Seconds since local midnight."""
    return int(ts + _OFFSET) % DAY


def is_night(ts: float) -> bool:
    """Night is [22:00, 05:00) local time, as the reference rules define it."""
    hour = local_hour(ts)
    return hour >= 22 or hour < 5


def into_hours(ts: int, first: int, last: int, rng_minutes: int) -> int:
    """``ts`` if its local hour is in [first, last), else the next ``first`` o'clock + some minutes."""
    hour = local_hour(ts)
    if first <= hour < last:
        return ts
    since_midnight = local_seconds(ts)
    to_next = (first * HOUR - since_midnight) % DAY
    return ts + to_next + rng_minutes * 60


# Relative activity by local hour (0..23). People report, travel and apply by day.
DAYTIME = (0.12, 0.08, 0.06, 0.06, 0.08, 0.18, 0.45, 0.8, 1.0, 1.1, 1.15, 1.1,
           0.85, 0.8, 1.0, 1.1, 1.1, 1.05, 1.0, 0.95, 0.85, 0.62, 0.38, 0.22)
# Grid workers and police work extended hours.
WORKDAY = (0.03, 0.02, 0.02, 0.02, 0.03, 0.06, 0.2, 0.6, 1.0, 1.1, 1.1, 1.0,
           0.6, 0.7, 1.0, 1.1, 1.1, 1.0, 0.8, 0.6, 0.45, 0.25, 0.1, 0.05)
# Service halls: 8:30-12:00 and 14:30-18:00 on weekdays (see WEEKEND_OFFICE).
OFFICE = (0, 0, 0, 0, 0, 0, 0, 0, 0.6, 1.0, 1.0, 0.7, 0.1, 0.05, 0.5, 1.0, 1.0, 0.7, 0.1, 0, 0, 0, 0, 0)
# Strangers and intrusions are what the night watch is for.
NIGHT = (1.0, 1.0, 0.9, 0.8, 0.7, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
         0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.2, 0.4, 0.8, 1.0)
NIGHT_ONLY = tuple(1.0 if (h >= 22 or h < 5) else 0.0 for h in range(24))
FLAT = (1.0,) * 24

WEEKEND_OFFICE = 0.12  # a few halls open on Saturday mornings
WEEKEND_DAYTIME = 0.85
