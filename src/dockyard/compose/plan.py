"""Convergence: what must happen to a service's containers for ``up``.

Describe, then apply: :func:`plan_service` compares the containers the
daemon has for a service (:class:`Observed`, read back from labels) with what
the model asks for, and returns a :class:`ServicePlan`; the executor carries
it out.  No daemon here, so every rule is tested on its own.

The rules are docker compose's:

- a container whose config hash or image differs from the model's, or every
  container with ``--force-recreate``, is recreated (unless
  ``--no-recreate``); the new one keeps the old one's number;
- a container that matches but is not running is started;
- with fewer containers than the scale asks, new ones are numbered on from
  the highest kept; with more, the highest-numbered are removed.

:func:`dependency_order` sorts services so that every service comes after
what it depends on, and raises on a cycle (the loader rejects cycles too,
but ``--no-deps`` and service selection call it on subsets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.compose import convert
from dockyard.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Observed:
    """One of a service's containers as the daemon reports it."""

    id: str
    name: str
    number: int
    config_hash: str
    image_id: str
    state: str  # created, running, paused, restarting, exited, dead

    @classmethod
    def from_api(cls, summary: Mapping[str, Any]) -> Observed:
        """From a ``GET /containers/json`` entry."""
        labels = summary.get("Labels") or {}
        return cls(id=summary["Id"], name=convert.row_name(summary), number=convert.row_number(summary),
                   config_hash=labels.get(convert.CONFIG_HASH, ""),
                   image_id=labels.get(convert.IMAGE, ""), state=summary.get("State", ""))

    @property
    def running(self) -> bool:
        return self.state in convert.RUNNING_STATES


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """The actions for one service, in the order the executor applies them."""

    service: str
    remove: tuple[Observed, ...] = ()      # beyond the scale: stop and remove
    recreate: tuple[Observed, ...] = ()    # replace with a new container, same number
    start: tuple[Observed, ...] = ()       # up to date but not running
    keep: tuple[Observed, ...] = ()        # up to date and running
    create: tuple[int, ...] = ()           # new containers with these numbers

    @property
    def changes(self) -> bool:
        return bool(self.remove or self.recreate or self.start or self.create)


@dataclass(frozen=True, slots=True)
class Desired:
    """What the model asks of a service."""

    config_hash: str
    image_id: str
    scale: int
    force_recreate: bool = False
    no_recreate: bool = False


def plan_service(service: str, desired: Desired, observed: Iterable[Observed]) -> ServicePlan:
    # Keep the lowest numbers, remove the highest.
    containers = sorted(observed, key=lambda c: (c.number, c.name))
    kept, remove = containers[:desired.scale], containers[desired.scale:]
    recreate, start, keep = [], [], []
    for c in kept:
        stale = (c.config_hash != desired.config_hash
                 or (desired.image_id and c.image_id != desired.image_id))
        if not desired.no_recreate and (desired.force_recreate or stale):
            recreate.append(c)
        elif c.running:
            keep.append(c)
        else:
            start.append(c)
    first = max((c.number for c in kept), default=0) + 1
    numbers = list(range(first, first + desired.scale - len(kept)))
    return ServicePlan(service, remove=tuple(reversed(remove)), recreate=tuple(recreate),
                       start=tuple(start), keep=tuple(keep), create=tuple(numbers))


def dependencies(service: Mapping[str, Any]) -> list[str]:
    """The services *service* must come after: depends_on, links and its
    :func:`namespace_parents`."""
    deps = list(service.get("depends_on") or {})
    deps += [link.partition(":")[0] for link in service.get("links") or []]
    return list(dict.fromkeys(deps + namespace_parents(service)))


def namespace_parents(service: Mapping[str, Any]) -> list[str]:
    """The services whose containers *service*'s containers are made from
    (``network_mode``/``ipc``/``pid: service:x``, ``volumes_from: x``): when
    one of them is recreated, these must be too."""
    parents = []
    for key in ("network_mode", "ipc", "pid"):
        value = service.get(key) or ""
        if value.startswith("service:"):
            parents.append(value.split(":", 1)[1])
    for source in service.get("volumes_from") or []:
        if not source.startswith("container:"):
            parents.append(source.partition(":")[0])
    return list(dict.fromkeys(parents))


def with_dependencies(services: Mapping[str, Mapping[str, Any]], selected: Iterable[str]) -> list[str]:
    """*selected* and everything they need, transitively, in model order."""
    wanted: set[str] = set()
    stack = list(selected)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        if name not in services:
            raise InvalidArgument(f"no such service: {name}")
        wanted.add(name)
        stack.extend(d for d in dependencies(services[name]) if d in services)
    return [name for name in services if name in wanted]


def dependency_order(services: Mapping[str, Mapping[str, Any]], names: Iterable[str]) -> list[str]:
    """*names* sorted so each comes after its dependencies (among *names*)."""
    names = list(names)
    chosen = set(names)
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise InvalidArgument("dependency cycle detected: " + " -> ".join(cycle))
        state[name] = "visiting"
        for dep in dependencies(services[name]):
            if dep in chosen:
                visit(dep, path + [name])
        state[name] = "done"
        order.append(name)

    for name in names:
        visit(name, [])
    return order


def with_dependents(services: Mapping[str, Mapping[str, Any]], selected: Iterable[str]) -> list[str]:
    """*selected* and every service that depends on them, transitively, in model order."""
    wanted = set(selected)
    grew = True
    while grew:
        grew = False
        for name, svc in services.items():
            if name not in wanted and wanted & set(dependencies(svc)):
                wanted.add(name)
                grew = True
    return [name for name in services if name in wanted]
