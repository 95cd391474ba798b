"""Taking a project, or part of it, off the daemon: ``down``, and the
stop-and-remove that ``up --remove-orphans`` and scaling down share.

Containers go before what they depend on (a web server before its
database), services in parallel where the order allows.  Networks and
volumes are found by the project label rather than from the model, so ones
the file no longer names — or, without a file, all — go too; what the
project did not create (external resources, an unlabelled volume) never
carries the label and is never touched.  A resource still in use is
reported and skipped, as docker compose does, so one leftover does not stop
the rest of ``down``.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.compose import convert, images
from dockyard.compose.plan import dependencies, dependency_order, with_dependents

if TYPE_CHECKING:
    from dockyard.compose.engine import Engine

ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # the daemon's mark on a volume made for no name


def down(engine: Engine, services: Iterable[str] = (), *, volumes: bool = False, rmi: str | None = None,
         remove_orphans: bool = False, timeout: int | None = None) -> None:
    """The project's containers (orphans too with *remove_orphans*), then its
    networks, with *volumes* its volumes, with *rmi* its images.  Given
    *services*, only those and the services depending on them, and nothing
    else."""
    project = engine.project
    rows = engine.containers(oneoff=None)
    if services:
        chosen = set(with_dependents(project.services, engine.service_names(services)))
        remove_containers(engine, [r for r in rows if convert.row_service(r) in chosen],
                          volumes=volumes, timeout=timeout)
        return
    orphans = engine.orphans(rows)
    if not remove_orphans:
        engine.warn_orphans(orphans)
    removed = [r for r in rows if remove_orphans or r not in orphans]
    # Anonymous volumes a recreated container inherited are mounted by name,
    # so removing the container with v=1 keeps them (moby's rule for a mount
    # with a source): -v takes the ones the daemon labels anonymous itself.
    mounted = {m["Name"] for r in removed for m in r.get("Mounts") or []
               if m.get("Type") == "volume" and m.get("Name")}
    remove_containers(engine, removed, volumes=volumes, timeout=timeout)
    mine = {"label": [f"{convert.PROJECT}={project.name}"]}
    for net in sorted(engine.client.get("/networks", {"filters": mine}), key=lambda n: n["Name"]):
        _remove(engine, "Network", net["Name"], f"/networks/{net['Id']}")
    if volumes:
        listed = engine.client.get("/volumes", {"filters": mine}).get("Volumes") or []
        for name in sorted({v["Name"] for v in listed}):
            _remove(engine, "Volume", name, f"/volumes/{name}")
        anonymous = engine.client.get("/volumes", {"filters": {"label": [ANONYMOUS_LABEL]}}).get("Volumes") or []
        for name in sorted(mounted & {v["Name"] for v in anonymous}):
            try:
                engine.client.delete(f"/volumes/{name}")
            except (errors.NotFound, errors.Conflict, errors.Forbidden):
                pass
    if rmi:
        remove_images(engine, rmi)


def _remove(engine: Engine, kind: str, name: str, path: str) -> None:
    engine.progress.event(kind, name, "Removing")
    try:
        engine.client.delete(path)
    except errors.NotFound:
        pass
    except (errors.Conflict, errors.Forbidden):
        # Held by a container compose was told to leave (an orphan).
        engine.progress.event(kind, name, "Resource is still in use")
        return
    engine.progress.event(kind, name, "Removed")


def remove_containers(engine: Engine, rows: list[dict[str, Any]], *, volumes: bool = False,
                      timeout: int | None = None) -> None:
    """Stop and remove, dependents before what they depend on, services in parallel."""
    project = engine.project
    by_service: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_service.setdefault(convert.row_service(row), []).append(row)
    known = [s for s in project.services if s in by_service]
    order = list(reversed(dependency_order(project.services, known)))
    order += [s for s in by_service if s not in project.services]
    futures: dict[str, Future] = {}

    def one_service(name: str, after: list[Future]) -> None:
        for f in after:
            f.exception()  # order only: a dependent that failed to go does not stop this
        with ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(engine.worker(engine.remove_container), r["Id"], convert.row_name(r),
                                  stop=r.get("State") in convert.RUNNING_STATES, timeout=timeout,
                                  volumes=volumes)
                      for r in by_service[name]]:
                f.result()

    with ThreadPoolExecutor(max_workers=max(1, len(order))) as pool:
        for name in order:
            # After the services that depend on this one (all of them, for
            # containers of services the model does not know).
            after = [futures[s] for s in futures
                     if name not in project.services or name in dependencies(project.services.get(s, {}))]
            futures[name] = pool.submit(one_service, name, after)
    for f in futures.values():
        f.result()


def remove_images(engine: Engine, mode: str) -> None:
    """``--rmi all``: every service's image; ``local``: only those without an
    ``image:`` of their own (the ``<project>-<service>`` ones ``up`` built)."""
    project = engine.project
    refs = [convert.image_name(project.name, name, svc) for name, svc in project.services.items()
            if mode == "all" or not svc.get("image")]
    for ref in dict.fromkeys(refs):
        if images.image_id(engine.client, ref) is not None:
            _remove(engine, "Image", ref, f"/images/{ref}")
