"""Profiles: services that exist only when asked for.

A service without ``profiles`` is always enabled; one with profiles is
enabled when one of them is active (``--profile``, or ``COMPOSE_PROFILES``,
comma-separated; ``*`` activates all).  Runs after merging, before
finalizing, so that a disabled service neither joins a network nor shows in
``config``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.errors import InvalidArgument


def active_profiles(explicit: Iterable[str] | None, env: Mapping[str, str]) -> frozenset[str]:
    """The profiles asked for: *explicit* if given, else ``COMPOSE_PROFILES``."""
    if explicit is not None:
        return frozenset(explicit)
    return frozenset(p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip())


def select_services(model: Mapping[str, Any], active: frozenset[str]) -> dict[str, Any]:
    """*model* with the services of inactive profiles removed.

    An enabled service depending on a disabled one is an error naming both
    and the profiles that would enable it (unless the dependency says
    ``required: false``).
    """
    services = model.get("services") or {}

    def enabled(svc: Mapping[str, Any]) -> bool:
        profiles = svc.get("profiles")
        return not profiles or "*" in active or bool(active.intersection(profiles))

    kept = {name: svc for name, svc in services.items() if enabled(svc)}
    for name, svc in kept.items():
        for dep, options in (svc.get("depends_on") or {}).items():
            if dep in services and dep not in kept and (options or {}).get("required", True):
                raise InvalidArgument(
                    f"service {name!r} key 'depends_on': service {dep!r} is disabled; "
                    f"enable one of its profiles: {', '.join(services[dep]['profiles'])}")
    return {**model, "services": kept}
