"""Human-readable durations, sizes and times, as docker prints them.

These follow docker's go-units (HumanDuration, HumanSize with decimal
units, BytesSize with binary ones) and Go's RFC 3339 with nanoseconds,
shared by the daemon (status strings) and the CLI (tables).
"""

from __future__ import annotations

import datetime
import time


_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second" … "3 years"."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
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
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(unix_time: float, now: float | None = None) -> str:
    """"2 minutes ago" for a unix time, as ps/images print CREATED."""
    current = time.time() if now is None else now
    return human_duration(current - unix_time) + " ago"


def _scaled(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, ``%.{p}g``."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_UNITS)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units with 4 significant digits."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


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
