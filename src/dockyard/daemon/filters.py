"""The ``filters`` query parameter: JSON, in either of docker's two shapes.

``{"status": ["exited"]}`` (current) and ``{"status": {"exited": true}}``
(what older clients and the docker CLI still send) both mean the same.
"""

from __future__ import annotations

import json

from .. import errors


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise errors.InvalidArgument(f"invalid filter: {e}") from None
    if not isinstance(data, dict):
        raise errors.InvalidArgument("invalid filter: expected a JSON object")
    result: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            result[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            result[key] = [str(v) for v in value]
        else:
            result[key] = [str(value)]
    return result
