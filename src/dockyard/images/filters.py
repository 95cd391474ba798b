"""Matching images against `docker images --filter` values."""

from __future__ import annotations

import fnmatch

from dockyard.errors import InvalidArgument
from dockyard.images.reference import parse_reference
from dockyard.images.timefmt import parse_rfc3339


def reference_match(pattern: str, ref: str) -> bool:
    parsed = parse_reference(ref)
    familiar = parsed.familiar()
    name = parsed.familiar_name()
    if ":" not in pattern.rsplit("/", 1)[-1] and "@" not in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    return fnmatch.fnmatchcase(familiar, pattern)


def parse_until(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    ts = parse_rfc3339(value)
    if ts:
        return ts
    raise InvalidArgument(f"invalid until filter: {value}")
