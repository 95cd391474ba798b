"""Human-readable durations, sizes and times, as docker prints them.

These follow docker's go-units (HumanDuration, HumanSize with decimal units)
and Go's RFC 3339 with nanoseconds, shared by the daemon (status strings)
and the CLI (tables).
"""

from __future__ import annotations

import datetime
import time


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def human_size(size: float) -> str:
    """Decimal units with 3 significant digits: 4.26MB, 1.2GB, 512B."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{units[i]}"


def now_rfc3339() -> str:
    """The current UTC time with nanoseconds, as Go's time.RFC3339Nano writes it (fixed width)."""
    return format_rfc3339(time.time_ns())


def format_rfc3339(ns: int) -> str:
    secs, nanos = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 time with up to nanosecond precision."""
    if not text or text.startswith("0001-01-01"):
        return 0.0
    main, _, frac = text.rstrip("Z").partition(".")
    tz = datetime.timezone.utc
    offset = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, offset = frac.partition(sign)
            offset = sign + offset
    if not frac and len(main) > 19:
        main, offset = main[:19], main[19:]
    dt = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S")
    if offset:
        h, _, m = offset[1:].partition(":")
        delta = datetime.timedelta(hours=int(h), minutes=int(m or 0))
        tz = datetime.timezone(delta if offset[0] == "+" else -delta)
    return dt.replace(tzinfo=tz).timestamp() + (float("0." + frac) if frac else 0.0)


def parse_timestamp(value: str) -> float:
    """docker's --since/--until on the API: seconds[.nanoseconds] since the epoch."""
    sec, _, frac = value.partition(".")
    return int(sec or 0) + (float("0." + frac) if frac else 0.0)
