"""Human units as docker prints and parses them (go-units semantics).

Printing: ``human_duration`` ("About a minute"), ``human_size`` ("4.26MB",
decimal units, 3 significant digits by default), ``bytes_size`` (binary
units, "1.5GiB").  Parsing: ``ram_in_bytes`` ("32m" → 33554432, binary
multiples like ``docker run -m``), ``nano_cpus`` ("1.5" → 1500000000),
``timestamp`` (``--since``/``--until``: a duration ago, a date, or unix
seconds), ``go_duration`` ("1h30m" → seconds).

Parse errors raise ValueError whose text is the part docker puts after
``invalid argument "X" for "-m, --memory" flag: ``.
"""

from __future__ import annotations

import re
import time

from ..units import bytes_size, human_duration, human_size, since

__all__ = ["bytes_size", "human_duration", "human_size", "since", "ram_in_bytes", "mem_swap_bytes",
           "nano_cpus", "go_duration", "timestamp", "go_time"]


_RAM = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_RAM_MULT = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: "32m", "1g", "512k", "1.5GiB", "100" (bytes)."""
    match = _RAM.match(text)
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    try:
        number = float(match.group(1))
    except ValueError:
        raise ValueError(f"invalid size: '{text}'") from None
    unit = (match.group(2) or "").lower()
    return int(number * _RAM_MULT.get(unit, 1))


def mem_swap_bytes(text: str) -> int:
    """``--memory-swap``: like ``ram_in_bytes`` but -1 means unlimited."""
    return -1 if text == "-1" else ram_in_bytes(text)


def nano_cpus(text: str) -> int:
    """``--cpus 1.5`` → 1500000000; docker rejects more than 9 decimals."""
    from decimal import Decimal, InvalidOperation  # exact, unlike float; only run needs it

    try:
        value = Decimal(text)
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise ValueError(f"failed to parse {text} as a rational number") from None
    nanos = value * 1_000_000_000
    if nanos != nanos.to_integral_value():
        raise ValueError("value is too precise")
    return int(nanos)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: "1h30m", "10s", "-5m", "0"."""
    sign = 1
    rest = text
    if rest[:1] in "+-" and rest:
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    pos = 0
    while pos < len(rest):
        match = _DURATION_PART.match(rest, pos)
        if not match:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _DURATION_UNIT[match.group(2)]
        pos = match.end()
    return sign * total


_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f",
                 "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def timestamp(value: str, now: float | None = None) -> str:
    """docker's GetTimestamp: the API form of a ``--since``/``--until`` value.

    A Go duration means that long before now; a date (RFC 3339 or a prefix,
    local time when no zone is given) is converted; unix seconds
    (``1700000000`` or ``1700000000.123``) pass through.
    """
    from datetime import datetime

    current = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value
    try:
        ago = go_duration(value)
    except ValueError:
        pass
    else:
        point = current - ago
        return f"{int(point)}.{int(round((point % 1) * 1e9)):09d}"
    text = value[:-1] + "+0000" if value.endswith("Z") else value
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()
        point = parsed.timestamp()
        return f"{int(point)}.{int(round((point % 1) * 1e9)):09d}"
    raise ValueError(f"failed to parse value as time or duration: \"{value}\"")


def go_time(unix_time: float) -> str:
    """Go's time.Time String() in local time: "2024-01-02 15:04:05 +0000 UTC"."""
    from datetime import datetime

    return datetime.fromtimestamp(unix_time).astimezone().strftime("%Y-%m-%d %H:%M:%S %z %Z")
