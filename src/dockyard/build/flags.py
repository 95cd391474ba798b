"""Builder flags (``--name=value`` before an instruction's arguments).

Docker's ``BFlags``: each instruction declares the flags it accepts and
their kinds, then one strict parse rejects unknown, duplicate or malformed
flags with docker's wording.  Also the values some flags carry: ``RUN
--mount`` specifications and Go durations (``HEALTHCHECK --interval``).
Errors are :class:`FlagError`; the instructions layer adds the location.
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.build.parser import Flag


class FlagError(Exception):
    """A flag or flag value docker would reject; the message is docker's."""


class Flags:
    """docker's ``BFlags``: declared flags, then one strict parse."""

    def __init__(self, keyword: str, flags: tuple[Flag, ...]):
        self.keyword = keyword
        self.given = flags
        self.kinds: dict[str, str] = {}

    def parse(self, **kinds: str) -> dict[str, Any]:
        """``kinds`` maps a flag (``_`` for ``-``) to "str", "bool" or "list"."""
        kinds = {k.rstrip("_").replace("_", "-"): v for k, v in kinds.items()}
        values: dict[str, Any] = {k: [] for k, v in kinds.items() if v == "list"}
        for flag in self.given:
            kind = kinds.get(flag.name)
            if kind is None:
                raise FlagError(f"unknown flag: {flag.name}")
            if kind == "list":
                if flag.value is None:
                    raise FlagError(f"missing a value on flag: {flag.name}")
                values[flag.name].append(flag.value)
                continue
            if flag.name in values:
                raise FlagError(f"duplicate flag specified: {flag.name}")
            if kind == "bool":
                v = (flag.value or "true").lower()
                if v not in ("true", "false"):
                    raise FlagError(f"expecting boolean value for flag {flag.name}, not: {flag.value}")
                values[flag.name] = v == "true"
            else:
                if flag.value is None:
                    raise FlagError(f"missing a value on flag: {flag.name}")
                values[flag.name] = flag.value
        return values


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = {"type", "from", "source", "src", "target", "dst", "destination", "readonly",
               "ro", "readwrite", "rw", "required", "size", "id", "sharing", "mode", "uid",
               "gid", "env"}


def parse_mount(spec: str) -> dict[str, str]:
    """One ``--mount`` value (comma-separated ``key=value``) as a dict."""
    mount: dict[str, str] = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.lower()
        if key not in _MOUNT_KEYS:
            raise FlagError(f"unexpected key '{key}' in '{item}'")
        if not sep:
            if key not in ("readonly", "ro", "readwrite", "rw", "required"):
                raise FlagError(f"invalid field '{item}' must be a key=value pair")
            value = "true"
        mount[key] = value
    mount.setdefault("type", "bind")
    if mount["type"] not in _MOUNT_TYPES:
        raise FlagError(f"unsupported mount type \"{mount['type']}\"")
    return mount


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` (``1m30s``, ``1.5h``, ``300ms``) in ns."""
    s, sign = text, 1
    if s[:1] in "+-" and s:
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise FlagError(f'time: invalid duration "{text}"')
    return sign * int(round(total))
