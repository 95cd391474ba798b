"""``${VAR}`` substitution in compose values.

Supported forms, as the compose specification defines them::

    $VAR ${VAR}          value, or empty when unset
    ${VAR:-default}      default when unset or empty
    ${VAR-default}       default when unset
    ${VAR:?message}      error when unset or empty
    ${VAR?message}       error when unset
    ${VAR:+alt}          alt when set and non-empty, else empty
    ${VAR+alt}           alt when set, else empty
    $$                   a literal $

Defaults and alternatives are themselves interpolated, so
``${A:-${B}}`` works.  Only values are substituted, never keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dockyard.errors import InvalidArgument

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


def interpolate(data: Any, env: Mapping[str, str], path: str = "",
                unset: set[str] | None = None) -> Any:
    """Return *data* with every string value substituted from *env*.

    Names used without a default and not set are added to *unset* (when
    given) so the caller can warn, as docker compose does.
    """
    if isinstance(data, dict):
        return {k: interpolate(v, env, f"{path}.{k}" if path else str(k), unset) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, f"{path}[{i}]", unset) for i, v in enumerate(data)]
    if isinstance(data, str):
        return substitute(data, env, path, unset)
    return data


def substitute(text: str, env: Mapping[str, str], where: str = "", unset: set[str] | None = None) -> str:
    """Substitute one string; errors name *where* (a dotted key path)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise InvalidArgument(f"{where}: invalid interpolation format {text!r}: missing }}")
            out.append(_expand(text[i + 2:end], env, where, text, unset))
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if m is None:
                # A lone "$" not followed by a name is kept as is.
                out.append("$")
                i += 1
            else:
                out.append(_lookup(m.group(0), env, unset))
                i = m.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _lookup(name: str, env: Mapping[str, str], unset: set[str] | None) -> str:
    if name not in env:
        if unset is not None:
            unset.add(name)
        return ""
    return env[name]


def _expand(body: str, env: Mapping[str, str], where: str, text: str, unset: set[str] | None) -> str:
    m = _NAME.match(body)
    if m is None:
        raise InvalidArgument(f"{where}: invalid interpolation format {text!r}")
    name, rest = m.group(0), body[m.end():]
    if not rest:
        return _lookup(name, env, unset)
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise InvalidArgument(f"{where}: invalid interpolation format {text!r}")
    arg = rest[len(op):]
    value = env.get(name)
    present = value is not None and (value != "" or ":" not in op)
    if op.endswith("-"):
        return value if present else substitute(arg, env, where, unset)  # type: ignore[return-value]
    if op.endswith("?"):
        if not present:
            message = substitute(arg, env, where, unset) or f"required variable {name} is missing a value"
            raise InvalidArgument(f"{where}: required variable {name} is missing a value: {message}")
        return value  # type: ignore[return-value]
    return substitute(arg, env, where, unset) if present else ""
