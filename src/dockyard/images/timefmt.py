"""Timestamps the way Go's time.RFC3339Nano writes them (what images carry)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})"
)


def format_rfc3339_nano(unix_ns: int) -> str:
    """UTC, nanoseconds with trailing zeros trimmed: 2024-05-01T12:00:00.5Z."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        return f"{base}.{nanos:09d}".rstrip("0") + "Z"
    return base + "Z"


def now_rfc3339_nano() -> str:
    return format_rfc3339_nano(time.time_ns())


def parse_rfc3339(text: str) -> float:
    """RFC 3339 (any fraction, any offset) → unix seconds; 0 for Go's zero time or junk."""
    m = _RFC3339.fullmatch(text.strip()) if text else None
    if m is None:
        return 0.0
    year, month, day, hour, minute, second, frac, zone = m.groups()
    tz = timezone.utc
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        from datetime import timedelta

        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    except ValueError:
        return 0.0
    value = dt.timestamp()
    if frac:
        value += float("0." + frac)
    return max(value, 0.0) if int(year) > 1 else 0.0
