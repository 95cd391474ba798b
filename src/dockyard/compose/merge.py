"""Merging normalized compose files as ``docker compose -f a -f b`` does.

Both sides are already in long syntax (normalize.py), so each rule is about
one shape:

* mappings (services, build, healthcheck, deploy, environment, labels,
  depends_on, networks, top-level networks/volumes) merge key by key, the
  later file winning on a conflict;
* ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced whole;
* ``ports``, ``expose``, ``dns``, ``dns_search``, ``tmpfs``, ``cap_add``,
  ``cap_drop``, ``extra_hosts``, ``security_opt``, ``profiles`` … are
  appended, an entry already present not repeated;
* ``volumes``, ``secrets`` and ``configs`` merge by target: a later mount on
  the same container path replaces the earlier one;
* any other scalar is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_REPLACED = frozenset({"command", "entrypoint", "test"})
_BY_TARGET = frozenset({"volumes", "secrets", "configs"})


def merge_files(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The model of *base* with *override* applied on top; neither is modified."""
    return _merge_mapping(base, override, top=True)


def _merge_mapping(base: Mapping[str, Any], override: Mapping[str, Any], top: bool = False) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if key not in out:
            out[key] = value
        else:
            out[key] = _merge_value(key, out[key], value, top)
    return out


def _merge_value(key: str, base: Any, override: Any, top: bool) -> Any:
    if key in _REPLACED:
        return override
    if key in _BY_TARGET and not top and isinstance(base, list) and isinstance(override, list):
        return _merge_by_target(base, override)
    if isinstance(base, dict) and isinstance(override, dict):
        return _merge_mapping(base, override)
    if isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return override


def _merge_by_target(base: list[Any], override: list[Any]) -> list[Any]:
    def target(item: Any) -> Any:
        if isinstance(item, dict):
            return item.get("target") or item.get("source")
        return item

    merged = {target(item): item for item in base}
    for item in override:
        merged[target(item)] = item
    return list(merged.values())
