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
* any other scalar is replaced;
* a key tagged ``!reset`` in the later file is removed, one tagged
  ``!override`` replaced whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

_REPLACED = frozenset({"command", "entrypoint", "test"})
_BY_TARGET = frozenset({"volumes", "secrets", "configs"})


def merge_files(base: Mapping[str, Any], override: Mapping[str, Any],
                resets: Set[tuple[str, ...]] = frozenset(),
                overrides: Set[tuple[str, ...]] = frozenset()) -> dict[str, Any]:
    """The model of *base* with *override* applied on top; neither is modified.

    *resets* are key paths the override file tagged ``!reset``: they are
    removed from the result.  *overrides* are key paths tagged
    ``!override``: the override file's value replaces the base's whole,
    bypassing the rules above.
    """
    out = _merge_mapping(base, override, (), resets, overrides)
    for path in resets:
        _remove(out, path)
    return out


def _merge_mapping(base: Mapping[str, Any], override: Mapping[str, Any], path: tuple[str, ...],
                   resets: Set[tuple[str, ...]], overrides: Set[tuple[str, ...]]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        here = path + (str(key),)
        if key not in out or here in overrides:
            out[key] = value
        else:
            out[key] = _merge_value(key, out[key], value, here, resets, overrides)
    return out


def _merge_value(key: str, base: Any, override: Any, path: tuple[str, ...],
                 resets: Set[tuple[str, ...]], overrides: Set[tuple[str, ...]]) -> Any:
    if key in _REPLACED:
        return override
    # "volumes" is a list of mounts in a service, a mapping at the top level.
    if key in _BY_TARGET and isinstance(base, list) and isinstance(override, list):
        return _merge_by_target(base, override)
    if isinstance(base, dict) and isinstance(override, dict):
        return _merge_mapping(base, override, path, resets, overrides)
    if isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return override


def _remove(model: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = model
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _merge_by_target(base: list[Any], override: list[Any]) -> list[Any]:
    def target(item: Any) -> Any:
        if isinstance(item, dict):
            return item.get("target") or item.get("source")
        return item

    merged = {target(item): item for item in base}
    for item in override:
        merged[target(item)] = item
    return list(merged.values())
