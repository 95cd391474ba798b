"""The executor: a project brought to the daemon, and taken off it.

The engine holds no state of its own.  Everything it knows about what
exists comes from the daemon, found by compose's labels (see ``convert``),
so any ``dockyard compose`` invocation — or docker compose itself — picks up
where another left off.

``up`` in order, each step before anything it depends on:

1. check the model against the engine: container_name with scale, host
   ports another program or project holds — errors before anything is made;
2. images: build what is missing (or everything, ``--build``), pull the rest;
3. networks and volumes the chosen services use, created when missing;
4. per service, a :class:`~dockyard.compose.plan.ServicePlan` from the
   containers the daemon has; the services then converge in parallel, each
   waiting first for its dependencies to converge and for their
   ``depends_on`` conditions (started, healthy, completed successfully);
5. services that asked to be restarted with a dependency (``restart: true``)
   and were not changed themselves are restarted.

A daemon call per thread: the API client keeps one connection and is not
shared, so each worker thread makes its own (``client``).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dockyard import errors
from dockyard.compose import convert, images
from dockyard.compose.plan import (Desired, Observed, ServicePlan, dependencies, dependency_order,
                                   plan_service, with_dependencies)
from dockyard.compose.progress import Progress
from dockyard.compose.project import Project

POLL_INTERVAL = 0.1
_ANONYMOUS = re.compile(r"[0-9a-f]{64}")


class DependencyFailed(errors.DockyardError):
    """A service could not start because one it depends on did not."""


class Engine:
    def __init__(self, project: Project, new_client: Callable[[], Any], progress: Progress, *,
                 config_files: Iterable[str] = (), environ: Mapping[str, str] | None = None,
                 build_output: Any = None):
        self.project = project
        self.progress = progress
        self.build_output = build_output
        self.view = convert.ServiceView(project.name, project.working_dir, list(config_files),
                                        project.networks, project.volumes, environ)
        self._new_client = new_client
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self._renew_anon_volumes = False

    @property
    def client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    # -- what the daemon has ----------------------------------------------------------

    def containers(self, services: Iterable[str] | None = None, *, stopped: bool = True,
                   oneoff: bool | None = False) -> list[dict[str, Any]]:
        """The project's containers (``GET /containers/json`` entries), by
        service then number; *oneoff* None means both kinds."""
        labels = [f"{convert.PROJECT}={self.project.name}"]
        if oneoff is not None:
            labels.append(f"{convert.ONEOFF}={'True' if oneoff else 'False'}")
        rows = self.client.get("/containers/json", {"all": stopped, "filters": {"label": labels}})
        if services is not None:
            wanted = set(services)
            rows = [r for r in rows if (r.get("Labels") or {}).get(convert.SERVICE) in wanted]
        return sorted(rows, key=_row_order)

    def orphans(self) -> list[dict[str, Any]]:
        return [r for r in self.containers(oneoff=None)
                if (r.get("Labels") or {}).get(convert.SERVICE) not in self.project.services]

    def service_names(self, names: Iterable[str] | None) -> list[str]:
        """*names* checked against the model, or every service."""
        if not names:
            return list(self.project.services)
        for name in names:
            if name not in self.project.services:
                raise errors.NotFound(f"no such service: {name}")
        return list(dict.fromkeys(names))

    # -- images -----------------------------------------------------------------------

    def ensure_images(self, names: Iterable[str], *, build: bool = False, no_build: bool = False,
                      pull_policy: str | None = None, quiet_pull: bool = False) -> dict[str, str]:
        """Service → image id, building and pulling as ``up`` does."""
        ids: dict[str, str] = {}
        for name in names:
            svc = self.project.services[name]
            ref = convert.image_name(self.project.name, name, svc)
            policy = pull_policy or svc.get("pull_policy") or "missing"
            current = images.image_id(self.client, ref)
            if "build" in svc and not no_build and (build or current is None or policy == "build"):
                current = self.build(name)
            elif current is None or policy == "always":
                if policy == "never" or ("build" in svc and no_build):
                    raise errors.NotFound(f"service {name!r}: no such image: {ref}")
                self.progress.event("Image", ref, "Pulling")
                images.pull(self.client, ref, None)
                self.progress.event("Image", ref, "Pulled")
                current = images.image_id(self.client, ref)
            ids[name] = current or ""
        return ids

    def build(self, name: str, *, no_cache: bool = False, pull: bool = False,
              extra_args: Mapping[str, str] | None = None) -> str:
        svc = self.project.services[name]
        ref = convert.image_name(self.project.name, name, svc)
        self.progress.event("Image", ref, "Building")
        image = images.build(self.client, self.project.name, name, svc, self.build_output,
                             environ=self.view.environ, no_cache=no_cache, pull=pull, extra_args=extra_args)
        self.progress.event("Image", ref, "Built")
        return image

    # -- networks and volumes ---------------------------------------------------------

    def ensure_networks(self, keys: Iterable[str]) -> None:
        for key in keys:
            net = self.project.networks[key]
            name = net["name"]
            try:
                info = self.client.get(f"/networks/{name}")
            except errors.NotFound:
                info = None
            if net.get("external"):
                if info is None:
                    raise errors.NotFound(f"network {name} declared as external, but could not be found")
                continue
            if info is not None:
                label = (info.get("Labels") or {}).get(convert.NETWORK, "")
                if label != key:
                    raise errors.Conflict(f"network {name} was found but has incorrect label "
                                          f"{convert.NETWORK} set to {label!r}")
                continue
            self.progress.event("Network", name, "Creating")
            self.client.post("/networks/create", body=convert.network_body(self.project.name, key, net))
            self.progress.event("Network", name, "Created")

    def ensure_volumes(self, keys: Iterable[str]) -> None:
        for key in keys:
            vol = self.project.volumes[key]
            name = vol["name"]
            try:
                info = self.client.get(f"/volumes/{name}")
            except errors.NotFound:
                info = None
            if vol.get("external"):
                if info is None:
                    raise errors.NotFound(f'external volume "{name}" not found')
                continue
            if info is not None:
                if (info.get("Labels") or {}).get(convert.PROJECT) != self.project.name:
                    self.progress.warn(f'volume "{name}" already exists but was not created by '
                                       "dockyard compose. Use `external: true` to use an existing volume")
                continue
            self.progress.event("Volume", name, "Creating")
            self.client.post("/volumes/create", body=convert.volume_body(self.project.name, key, vol))
            self.progress.event("Volume", name, "Created")

    def _resources(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        nets: dict[str, None] = {}
        vols: dict[str, None] = {}
        for name in names:
            svc = self.project.services[name]
            if not svc.get("network_mode"):
                nets.update(dict.fromkeys(svc.get("networks") or {}))
            for v in svc.get("volumes") or []:
                if v.get("type", "volume") == "volume" and v.get("source"):
                    vols[v["source"]] = None
        return list(nets), list(vols)

    # -- up -----------------------------------------------------------------------------

    def up(self, services: Iterable[str] | None = None, *, no_deps: bool = False,
           force_recreate: bool = False, no_recreate: bool = False, build: bool = False,
           no_build: bool = False, scales: Mapping[str, int] | None = None,
           remove_orphans: bool = False, start: bool = True, timeout: int | None = None,
           pull_policy: str | None = None, renew_anon_volumes: bool = False) -> list[str]:
        """Converge the chosen services (and, unless *no_deps*, what they
        depend on); returns the ids of the services' containers.  A recreated
        container keeps its predecessor's anonymous volumes unless
        *renew_anon_volumes*."""
        self._renew_anon_volumes = renew_anon_volumes
        selected = self.service_names(services)
        names = selected if no_deps else with_dependencies(self.project.services, selected)
        order = dependency_order(self.project.services, names)
        scales = dict(scales or {})
        for name in scales:
            self.service_names([name])
        desired_scale = {n: scales.get(n, convert.scale(self.project.services[n])) for n in order}
        for name in order:
            if desired_scale[name] > 1 and self.project.services[name].get("container_name"):
                raise errors.InvalidArgument(
                    f"services.{name}: can't set container_name and scale {desired_scale[name]}: "
                    "container names must be unique")
        observed: dict[str, list[Observed]] = {n: [] for n in order}
        rows = self.containers(order)
        for row in rows:
            observed[row["Labels"][convert.SERVICE]].append(Observed.from_api(row))
        self._check_ports(order, rows)
        self._orphans(remove_orphans, timeout)
        image_ids = self.ensure_images(order, build=build, no_build=no_build, pull_policy=pull_policy)
        nets, vols = self._resources(order)
        self.ensure_networks(nets)
        self.ensure_volumes(vols)
        plans = {n: plan_service(n, Desired(convert.config_hash(self.project.services[n]), image_ids[n],
                                            desired_scale[n], force_recreate, no_recreate),
                                 observed[n])
                 for n in order}
        results = self._converge(order, plans, image_ids, start=start, timeout=timeout)
        if start:
            self._restart_dependents(order, plans, results, timeout)
        return [cid for n in selected for cid in results.get(n, [])]

    def _converge(self, order: list[str], plans: Mapping[str, ServicePlan], image_ids: Mapping[str, str], *,
                  start: bool, timeout: int | None) -> dict[str, list[str]]:
        futures: dict[str, Future] = {}
        with ThreadPoolExecutor(max_workers=max(1, len(order))) as pool:
            for name in order:
                deps = {d: futures[d] for d in dependencies(self.project.services[name]) if d in futures}
                futures[name] = pool.submit(self._converge_service, name, plans[name], image_ids[name],
                                            deps, start, timeout)
        failures = [f.exception() for f in futures.values() if f.exception() is not None]
        real = [e for e in failures if not isinstance(e, DependencyFailed)] or failures
        if real:
            raise real[0]
        return {name: f.result() for name, f in futures.items()}

    def _converge_service(self, name: str, plan: ServicePlan, image_id: str, deps: Mapping[str, Future],
                          start: bool, timeout: int | None) -> list[str]:
        for dep, future in deps.items():
            if future.exception() is not None:
                raise DependencyFailed(f"dependency failed to start: service {dep!r} failed")
        if start:
            self._await_dependencies(name, {d: f.result() for d, f in deps.items()})
        for c in plan.remove:
            self._remove(c.id, c.name, stop=True, timeout=timeout)
        ids = [c.id for c in plan.keep]
        inflight = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            for c in plan.recreate:
                inflight.append(pool.submit(self._recreate, name, c, image_id, start, timeout))
            for c in plan.start:
                ids.append(c.id)
                if start:
                    inflight.append(pool.submit(self._start, c.id, c.name))
            for number in plan.create:
                inflight.append(pool.submit(self._create, name, number, image_id, start))
        for future in inflight:
            result = future.result()
            if result:
                ids.append(result)
        if not plan.changes:
            for c in plan.keep:
                self.progress.event("Container", c.name, "Running")
        return ids

    def _create(self, name: str, number: int, image_id: str, start: bool,
                inherited: Mapping[str, str] | None = None) -> str:
        svc = self.project.services[name]
        cname = convert.container_name(self.project.name, name, svc, number)
        body = convert.container_body(self.view, name, svc, number, image_id=image_id,
                                      peer=self._peers(svc), inherited_volumes=inherited)
        self.progress.event("Container", cname, "Creating")
        cid = self.client.post("/containers/create", {"name": cname}, body)["Id"]
        self.progress.event("Container", cname, "Created")
        if start:
            try:
                self._start(cid, cname)
            except errors.DockyardError:
                # The container could not run (a port taken since the check):
                # leave nothing half-made behind.
                self.client.delete(f"/containers/{cid}", {"force": True, "v": True})
                raise
        return cid

    def _start(self, cid: str, name: str) -> None:
        self.progress.event("Container", name, "Starting")
        self.client.post(f"/containers/{cid}/start")
        self.progress.event("Container", name, "Started")

    def _recreate(self, name: str, old: Observed, image_id: str, start: bool, timeout: int | None) -> str:
        svc = self.project.services[name]
        info = self.client.get(f"/containers/{old.id}/json")
        anonymous = set() if self._renew_anon_volumes else {
            v["target"] for v in svc.get("volumes") or []
            if v.get("type", "volume") == "volume" and not v.get("source")}
        inherited = {m["Destination"]: m["Name"] for m in info.get("Mounts") or []
                     if m.get("Type") == "volume" and m.get("Destination") in anonymous and m.get("Name")}
        self.progress.event("Container", old.name, "Recreate")
        if old.running:
            self.client.post(f"/containers/{old.id}/stop", {"t": timeout})
        self.client.post(f"/containers/{old.id}/rename", {"name": f"{old.id[:12]}_{old.name}"})
        try:
            cid = self._create(name, old.number, image_id, start=False, inherited=inherited)
        except errors.DockyardError:
            self.client.post(f"/containers/{old.id}/rename", {"name": old.name})
            raise
        self.client.delete(f"/containers/{old.id}", {"force": True})
        self.progress.event("Container", old.name, "Recreated")
        if start:
            self._start(cid, old.name)
        return cid

    def _peers(self, svc: Mapping[str, Any]) -> dict[str, str]:
        mode = svc.get("network_mode") or ""
        if not mode.startswith("service:"):
            return {}
        target = mode.split(":", 1)[1]
        rows = [r for r in self.containers([target], stopped=False)]
        return {target: rows[0]["Id"]} if rows else {}

    def _remove(self, cid: str, name: str, *, stop: bool, timeout: int | None, volumes: bool = False) -> None:
        if stop:
            self.progress.event("Container", name, "Stopping")
            self.client.post(f"/containers/{cid}/stop", {"t": timeout})
            self.progress.event("Container", name, "Stopped")
        self.progress.event("Container", name, "Removing")
        try:
            self.client.delete(f"/containers/{cid}", {"force": True, "v": volumes})
        except errors.NotFound:
            pass  # gone already (auto-remove)
        self.progress.event("Container", name, "Removed")

    # -- waiting ------------------------------------------------------------------------

    def _await_dependencies(self, name: str, converged: Mapping[str, list[str]]) -> None:
        svc = self.project.services[name]
        for dep, opts in (svc.get("depends_on") or {}).items():
            if dep not in self.project.services:
                continue
            condition = opts.get("condition", "service_started")
            ids = converged.get(dep)
            if ids is None:  # not part of this run (--no-deps): wait on what exists
                ids = [r["Id"] for r in self.containers([dep])]
            for cid in ids:
                self.await_container(cid, {"service_healthy": "healthy",
                                           "service_completed_successfully": "completed"}.get(condition, "running"),
                                     dep)

    def await_container(self, cid: str, condition: str, service: str, deadline: float | None = None) -> None:
        """Block until the container is running, healthy or completed
        (exit 0); raise DependencyFailed when it cannot become so."""
        delay = POLL_INTERVAL
        name = cid[:12]
        while True:
            info = self.client.get(f"/containers/{cid}/json")
            name = info.get("Name", "").lstrip("/") or name
            state = info.get("State") or {}
            code = state.get("ExitCode", 0)
            if condition == "completed":
                if not state.get("Running") and state.get("Status") in ("exited", "dead"):
                    if code == 0:
                        return
                    raise DependencyFailed(f"service {service!r} didn't complete successfully: exit {code}")
            elif condition == "healthy":
                if state.get("Health") is None:
                    raise DependencyFailed(f"dependency failed to start: container {name} has no "
                                           "healthcheck configured")
                status = state["Health"].get("Status")
                if status == "healthy":
                    self.progress.event("Container", name, "Healthy")
                    return
                if status == "unhealthy":
                    raise DependencyFailed(f"dependency failed to start: container {name} is unhealthy")
            elif state.get("Running"):
                return
            if condition != "completed" and state.get("Status") in ("exited", "dead"):
                raise DependencyFailed(f"dependency failed to start: container {name} exited ({code})")
            if deadline is not None and time.monotonic() > deadline:
                raise DependencyFailed(f"timeout waiting for container {name} to be {condition}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def wait_running(self, ids: Iterable[str], timeout: float | None = None) -> None:
        """``up --wait``: every container running, and healthy if it has a
        health check."""
        deadline = None if timeout is None else time.monotonic() + timeout
        rows = {r["Id"]: r for r in self.containers()}

        def one(cid: str) -> None:
            info = self.client.get(f"/containers/{cid}/json")
            condition = "healthy" if (info.get("State") or {}).get("Health") else "running"
            service = (rows.get(cid, {}).get("Labels") or {}).get(convert.SERVICE, "")
            self.await_container(cid, condition, service, deadline)

        with ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(one, cid) for cid in ids]:
                future.result()

    def _restart_dependents(self, order: list[str], plans: Mapping[str, ServicePlan],
                            results: Mapping[str, list[str]], timeout: int | None) -> None:
        changed = {n for n, p in plans.items() if p.recreate or p.remove}
        for name in order:
            if plans[name].changes:
                continue
            deps = self.project.services[name].get("depends_on") or {}
            if any(d in changed and o.get("restart") for d, o in deps.items()):
                for cid in results.get(name, []):
                    self.client.post(f"/containers/{cid}/restart", {"t": timeout})
                    self.progress.event("Container", cid[:12], "Restarted")

    # -- checks -------------------------------------------------------------------------

    def _check_ports(self, order: list[str], rows: list[dict[str, Any]]) -> None:
        """Published host ports free, or held by the project's own containers
        (which ``up`` keeps or replaces): an error before anything is made."""
        ours = {(p.get("IP") or "0.0.0.0", p["PublicPort"], p.get("Type", "tcp"))
                for r in rows for p in r.get("Ports") or [] if p.get("PublicPort")}
        seen: dict[tuple[str, int, str], str] = {}
        for name in order:
            for p in self.project.services[name].get("ports") or []:
                published = str(p.get("published") or "")
                if not published or "-" in published:
                    continue
                key = (p.get("host_ip") or "0.0.0.0", int(published), p.get("protocol", "tcp"))
                if key in seen:
                    raise errors.Conflict(f"services {seen[key]!r} and {name!r} both publish "
                                          f"{key[0]}:{key[1]}/{key[2]}")
                seen[key] = name
                if key in ours:
                    continue
                if not _port_free(*key):
                    raise errors.Conflict(f"service {name!r}: Bind for {key[0]}:{key[1]} failed: "
                                          "port is already allocated")

    def _orphans(self, remove: bool, timeout: int | None) -> None:
        orphans = self.orphans()
        if not orphans:
            return
        if remove:
            for row in orphans:
                self._remove(row["Id"], _name(row), stop=row.get("State") == "running", timeout=timeout)
            return
        names = ", ".join(_name(r) for r in orphans)
        self.progress.warn(f"Found orphan containers ([{names}]) for this project. If you removed or "
                           "renamed this service in your compose file, you can run this command with "
                           "the --remove-orphans flag to clean it up.")

    # -- down ---------------------------------------------------------------------------

    def down(self, *, volumes: bool = False, rmi: str | None = None, remove_orphans: bool = False,
             timeout: int | None = None) -> None:
        rows = self.containers(oneoff=None)
        known = [r for r in rows if _service(r) in self.project.services]
        orphans = [r for r in rows if _service(r) not in self.project.services]
        if orphans and not remove_orphans:
            names = ", ".join(_name(r) for r in orphans)
            self.progress.warn(f"Found orphan containers ([{names}]) for this project. If you removed or "
                               "renamed this service in your compose file, you can run this command with "
                               "the --remove-orphans flag to clean it up.")
        removed = known + (orphans if remove_orphans else [])
        # Anonymous volumes a recreated container inherited are attached by
        # name, so removing the container with v=1 leaves them: -v takes
        # them explicitly once the containers are gone.
        anonymous = {m["Name"] for r in removed for m in r.get("Mounts") or []
                     if m.get("Type") == "volume" and _ANONYMOUS.fullmatch(m.get("Name") or "")}
        self.remove_containers(removed, stop=True, volumes=volumes, timeout=timeout)
        if volumes:
            for name in sorted(anonymous):
                try:
                    self.client.delete(f"/volumes/{name}")
                except (errors.NotFound, errors.Conflict, errors.Forbidden):
                    pass
        for key, net in self.project.networks.items():
            if net.get("external"):
                continue
            try:
                info = self.client.get(f"/networks/{net['name']}")
            except errors.NotFound:
                continue
            if (info.get("Labels") or {}).get(convert.PROJECT) != self.project.name:
                continue
            self.progress.event("Network", net["name"], "Removing")
            try:
                self.client.delete(f"/networks/{net['name']}")
                self.progress.event("Network", net["name"], "Removed")
            except (errors.Conflict, errors.Forbidden):
                # Still used by a container compose does not own here (an
                # orphan left by choice): docker compose warns and goes on.
                self.progress.event("Network", net["name"], "Resource is still in use")
        if volumes:
            for key, vol in self.project.volumes.items():
                if vol.get("external"):
                    continue
                try:
                    info = self.client.get(f"/volumes/{vol['name']}")
                except errors.NotFound:
                    continue
                if (info.get("Labels") or {}).get(convert.PROJECT) != self.project.name:
                    continue
                self.progress.event("Volume", vol["name"], "Removing")
                self.client.delete(f"/volumes/{vol['name']}")
                self.progress.event("Volume", vol["name"], "Removed")
        if rmi:
            self._remove_images(rmi)

    def remove_containers(self, rows: list[dict[str, Any]], *, stop: bool, volumes: bool,
                          timeout: int | None) -> None:
        """Stop and remove, dependents before what they depend on, services in parallel."""
        by_service: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_service.setdefault(_service(row), []).append(row)
        known = [s for s in self.project.services if s in by_service]
        order = list(reversed(dependency_order(self.project.services, known)))
        order += [s for s in by_service if s not in self.project.services]
        futures: dict[str, Future] = {}

        def one_service(name: str, before: list[Future]) -> None:
            for f in before:
                f.exception()
            with ThreadPoolExecutor(max_workers=4) as pool:
                for f in [pool.submit(self._remove, r["Id"], _name(r),
                                      stop=stop and r.get("State") in ("running", "paused", "restarting"),
                                      timeout=timeout, volumes=volumes)
                          for r in by_service[name]]:
                    f.result()

        with ThreadPoolExecutor(max_workers=max(1, len(order))) as pool:
            for name in order:
                svc = self.project.services.get(name, {})
                # Wait for the services that depend on this one.
                before = [futures[s] for s in futures
                          if name in dependencies(self.project.services.get(s, {})) or not svc]
                futures[name] = pool.submit(one_service, name, before)
        for f in futures.values():
            f.result()

    def _remove_images(self, mode: str) -> None:
        if mode not in ("all", "local"):
            raise errors.InvalidArgument(f"invalid --rmi value {mode!r}: use 'all' or 'local'")
        refs = []
        for name, svc in self.project.services.items():
            if mode == "local" and svc.get("image"):
                continue
            refs.append(convert.image_name(self.project.name, name, svc))
        for ref in dict.fromkeys(refs):
            if images.image_id(self.client, ref) is None:
                continue
            self.progress.event("Image", ref, "Removing")
            try:
                self.client.delete(f"/images/{ref}")
                self.progress.event("Image", ref, "Removed")
            except errors.Conflict as exc:
                self.progress.warn(f"image {ref}: {exc}")


def _service(row: Mapping[str, Any]) -> str:
    return (row.get("Labels") or {}).get(convert.SERVICE, "")


def _name(row: Mapping[str, Any]) -> str:
    return (row.get("Names") or ["/"])[0].lstrip("/")


def _row_order(row: Mapping[str, Any]) -> tuple[str, int, str]:
    labels = row.get("Labels") or {}
    try:
        number = int(labels.get(convert.NUMBER, "0"))
    except ValueError:
        number = 0
    return (labels.get(convert.SERVICE, ""), number, _name(row))


def _port_free(host_ip: str, port: int, protocol: str) -> bool:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    try:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host_ip, port))
    except OSError:
        return False
    return True
