"""The executor: a project brought to the daemon.

The engine holds no state of its own.  Everything it knows about what
exists comes from the daemon, found by compose's labels (see ``convert``),
so any ``dockyard compose`` invocation — or docker compose itself — picks up
where another left off.

``up`` in order, each step before anything it depends on:

1. checks that need nothing made: every container body converts (units,
   volumes, networks, restart policies), no ``container_name`` with a scale
   above 1, and no published host port held by another program or project —
   an error here leaves the daemon untouched;
2. images: build what is missing (or everything, ``--build``), pull the rest;
3. networks and volumes the chosen services use, created when missing; then
   orphans are reported (or removed with ``--remove-orphans``);
4. per service, a :class:`~dockyard.compose.plan.ServicePlan` from the
   containers the daemon has — a service whose namespaces or volumes come
   from a recreated one is recreated with it; the services then converge in
   parallel, each waiting first for its dependencies to converge and for
   their ``depends_on`` conditions (``conditions``);
5. services that asked to be restarted with a dependency (``restart: true``)
   and were not changed themselves are restarted.

Taking things down is ``teardown``'s.  A daemon call per thread: the API
client keeps one connection and is not shared, so each worker makes its own
and closes it when its task ends (:meth:`Engine.worker`).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TextIO

from dockyard import errors
from dockyard.compose import convert, images
from dockyard.compose.containers import ServiceView, container_body
from dockyard.compose.conditions import CONDITIONS, DependencyFailed, Waiter
from dockyard.compose.plan import (Desired, Observed, ServicePlan, dependencies, dependency_order,
                                   namespace_parents, plan_service, with_dependencies)
from dockyard.compose.progress import Progress
from dockyard.compose.project import Project


class Engine:
    def __init__(self, project: Project, new_client: Callable[[], Any], progress: Progress, *,
                 config_files: Iterable[str] = (), environ: Mapping[str, str] | None = None,
                 build_output: TextIO | None = None, pull_output: TextIO | None = None,
                 modeled: bool = True, parallel: int = 0):
        """*modeled* False: no compose file, only a project name (``down -p``,
        ``ps -p``): every container of the project counts as its own.
        *parallel* caps the services converging at once (0: no cap)."""
        self.project = project
        self.modeled = modeled
        self.progress = progress
        self.build_output = build_output
        self.pull_output = pull_output
        self.parallel = parallel
        self.view = ServiceView(project.name, project.working_dir, list(config_files),
                                        project.networks, project.volumes, environ)
        self.cancelled = threading.Event()
        self.waiter = Waiter(lambda: self.client, lambda name, status: progress.event("Container", name, status),
                             self.cancelled)
        self._new_client = new_client
        self._local = threading.local()
        self._clients: set[Any] = set()
        self._lock = threading.Lock()

    # -- connections --------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """This thread's API client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
            with self._lock:
                self._clients.add(client)
        return client

    def worker(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """*fn* for a pool thread: its client is closed when the task ends."""
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                client = getattr(self._local, "client", None)
                if client is not None:
                    self._local.client = None
                    with self._lock:
                        self._clients.discard(client)
                    client.close()
        return run

    def close(self) -> None:
        self.cancelled.set()
        with self._lock:
            clients, self._clients = list(self._clients), set()
        for client in clients:
            client.close()

    def _run_all(self, pool: ThreadPoolExecutor, futures: Iterable[Future]) -> None:
        """Wait for *futures*; on Ctrl-C cancel every wait and queued task first."""
        futures = list(futures)
        try:
            wait(futures)
        except KeyboardInterrupt:
            self.cancelled.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise

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
            rows = [r for r in rows if convert.row_service(r) in wanted]
        return sorted(rows, key=lambda r: (convert.row_service(r), convert.row_number(r), convert.row_name(r)))

    def service_names(self, names: Iterable[str] | None) -> list[str]:
        """*names* checked against the model, or every service.  Without a
        model, the names the project's containers carry."""
        names = list(dict.fromkeys(names or ()))
        if not self.modeled:
            return names or sorted({convert.row_service(r) for r in self.containers(oneoff=None)})
        for name in names:
            if name not in self.project.services:
                raise errors.NotFound(f"no such service: {name}")
        return names or list(self.project.services)

    def orphans(self, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Containers of services the model does not have (among *rows*, the
        project's containers, listed when not given); services that a profile
        left out are not orphans, they are only not running now."""
        if not self.modeled:
            return []
        known = set(self.project.services) | set(self.project.disabled_services)
        rows = self.containers(oneoff=None) if rows is None else rows
        return [r for r in rows if convert.row_service(r) not in known]

    def warn_orphans(self, orphans: list[dict[str, Any]]) -> None:
        if orphans:
            names = ", ".join(convert.row_name(r) for r in orphans)
            self.progress.warn(f"Found orphan containers ([{names}]) for this project. If you removed or "
                               "renamed this service in your compose file, you can run this command with "
                               "the --remove-orphans flag to clean it up.")

    # -- images -----------------------------------------------------------------------

    def ensure_images(self, names: Iterable[str], *, build: bool = False, no_build: bool = False,
                      pull_policy: str | None = None) -> dict[str, str]:
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
                images.pull(self.client, ref, self.pull_output)
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

    def prepare_resources(self, names: Iterable[str]) -> None:
        """The networks and named volumes the services use, made when missing."""
        nets: dict[str, None] = {}
        vols: dict[str, None] = {}
        for name in names:
            svc = self.project.services[name]
            if not svc.get("network_mode"):
                nets.update(dict.fromkeys(svc.get("networks") or {}))
            vols.update(dict.fromkeys(v["source"] for v in svc.get("volumes") or []
                                      if v.get("type", "volume") == "volume" and v.get("source")))
        for key in nets:
            self._ensure_network(key, self.project.networks[key])
        for key in vols:
            self._ensure_volume(key, self.project.volumes[key])

    def _existing(self, path: str) -> dict[str, Any] | None:
        try:
            return self.client.get(path)
        except errors.NotFound:
            return None

    def _ensure_network(self, key: str, net: Mapping[str, Any]) -> None:
        name = net["name"]
        info = self._existing(f"/networks/{name}")
        if net.get("external"):
            if info is None:
                raise errors.NotFound(f"network {name} declared as external, but could not be found")
            return
        if info is not None:
            label = (info.get("Labels") or {}).get(convert.NETWORK, "")
            if label != key:
                raise errors.Conflict(f"network {name} was found but has incorrect label "
                                      f"{convert.NETWORK} set to {label!r}")
            return
        self.progress.event("Network", name, "Creating")
        self.client.post("/networks/create", body=convert.network_body(self.project.name, key, net))
        self.progress.event("Network", name, "Created")

    def _ensure_volume(self, key: str, vol: Mapping[str, Any]) -> None:
        name = vol["name"]
        info = self._existing(f"/volumes/{name}")
        if vol.get("external"):
            if info is None:
                raise errors.NotFound(f'external volume "{name}" not found')
            return
        if info is not None:
            if (info.get("Labels") or {}).get(convert.PROJECT) != self.project.name:
                self.progress.warn(f'volume "{name}" already exists but was not created by '
                                   "dockyard compose. Use `external: true` to use an existing volume")
            return
        self.progress.event("Volume", name, "Creating")
        self.client.post("/volumes/create", body=convert.volume_body(self.project.name, key, vol))
        self.progress.event("Volume", name, "Created")

    # -- up -----------------------------------------------------------------------------

    def up(self, services: Iterable[str] | None = None, *, no_deps: bool = False,
           force_recreate: bool = False, no_recreate: bool = False, build: bool = False,
           no_build: bool = False, scales: Mapping[str, int] | None = None,
           remove_orphans: bool = False, start: bool = True, timeout: int | None = None,
           pull_policy: str | None = None, renew_anon_volumes: bool = False) -> list[str]:
        """Converge the chosen services (and, unless *no_deps*, what they
        depend on); returns the ids of the chosen services' containers.
        *force_recreate* and *no_recreate* apply to the chosen services;
        dependencies are recreated when they changed.  A recreated container
        keeps its predecessor's anonymous volumes unless *renew_anon_volumes*."""
        from dockyard.compose import teardown

        selected = self.service_names(services)
        names = selected if no_deps else with_dependencies(self.project.services, selected)
        order = dependency_order(self.project.services, names)
        scale = self._scales(order, scales or {})
        everything = self.containers(oneoff=None)  # one listing: the services' own, and orphans
        rows = [r for r in everything if convert.row_service(r) in order
                and (r.get("Labels") or {}).get(convert.ONEOFF) == "False"]
        self._check_bodies(order)
        self._check_ports(order, rows)
        image_ids = self.ensure_images(order, build=build, no_build=no_build, pull_policy=pull_policy)
        self.prepare_resources(order)
        orphans = self.orphans(everything)
        if remove_orphans:
            teardown.remove_containers(self, orphans, timeout=timeout)
        else:
            self.warn_orphans(orphans)
        observed: dict[str, list[Observed]] = {n: [] for n in order}
        for row in rows:
            observed[convert.row_service(row)].append(Observed.from_api(row))
        plans: dict[str, ServicePlan] = {}
        for n in order:
            chosen = n in selected
            parent_recreated = any(plans[p].recreate for p in namespace_parents(self.project.services[n])
                                   if p in plans)
            desired = Desired(convert.config_hash(self.project.services[n]), image_ids[n], scale[n],
                              force_recreate=(force_recreate and chosen) or parent_recreated,
                              no_recreate=no_recreate and chosen and not parent_recreated)
            plans[n] = plan_service(n, desired, observed[n])
        results = self._converge(order, plans, image_ids, start=start, timeout=timeout,
                                 renew_anon_volumes=renew_anon_volumes)
        if start:
            self._restart_dependents(order, plans, results, timeout)
        return [cid for n in selected for cid in results.get(n, [])]

    def _scales(self, order: list[str], scales: Mapping[str, int]) -> dict[str, int]:
        for name in scales:
            self.service_names([name])
        wanted = {n: scales.get(n, convert.scale(self.project.services[n])) for n in order}
        for name, count in wanted.items():
            if count > 1 and self.project.services[name].get("container_name"):
                raise errors.InvalidArgument(f"services.{name}: can't set container_name and scale {count}: "
                                             "container names must be unique")
        return wanted

    def _check_bodies(self, order: list[str]) -> None:
        """Every service's container body, built once before anything is
        made, so a value the engine cannot take fails ``up`` up front."""
        placeholder = "0" * 64
        for name in order:
            svc = self.project.services[name]
            container_body(self.view, name, svc, 1, peer={p: placeholder for p in namespace_parents(svc)})

    def _converge(self, order: list[str], plans: Mapping[str, ServicePlan], image_ids: Mapping[str, str], *,
                  start: bool, timeout: int | None, renew_anon_volumes: bool) -> dict[str, list[str]]:
        futures: dict[str, Future] = {}
        workers = self.parallel if self.parallel > 0 else max(1, len(order))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name in order:
                deps = {d: futures[d] for d in dependencies(self.project.services[name]) if d in futures}
                futures[name] = pool.submit(self.worker(self._converge_service), name, plans[name],
                                            image_ids[name], deps, start, timeout, renew_anon_volumes)
            self._run_all(pool, futures.values())
        failures = [f.exception() for f in futures.values() if f.exception() is not None]
        causes = [e for e in failures if not isinstance(e, DependencyFailed)] or failures
        if causes:
            raise causes[0]
        return {name: f.result() for name, f in futures.items()}

    def _converge_service(self, name: str, plan: ServicePlan, image_id: str, deps: Mapping[str, Future],
                          start: bool, timeout: int | None, renew_anon_volumes: bool) -> list[str]:
        for dep, future in deps.items():
            if future.exception() is not None:
                raise DependencyFailed(f"dependency failed to start: service {dep!r} failed")
        if start:
            self.await_dependencies(name, {d: f.result() for d, f in deps.items()})
        for c in plan.remove:
            self.remove_container(c.id, c.name, stop=c.running, timeout=timeout)
        ids = [c.id for c in plan.keep]
        with ThreadPoolExecutor(max_workers=4) as pool:
            inflight = [pool.submit(self.worker(self._recreate), name, c, image_id, start, timeout,
                                    renew_anon_volumes) for c in plan.recreate]
            inflight += [pool.submit(self.worker(self._create), name, n, image_id, start) for n in plan.create]
            for c in plan.start:
                ids.append(c.id)
                if start:
                    inflight.append(pool.submit(self.worker(self._start), c.id, c.name))
            self._run_all(pool, inflight)
        ids += [cid for cid in (f.result() for f in inflight) if cid]
        if not plan.changes:
            for c in plan.keep:
                self.progress.event("Container", c.name, "Running")
        return ids

    def await_dependencies(self, name: str, converged: Mapping[str, list[str]] | None = None) -> None:
        """Wait for each ``depends_on`` condition of *name*; a dependency
        marked ``required: false`` that fails is a warning, not an error."""
        for dep, opts in (self.project.services[name].get("depends_on") or {}).items():
            condition = CONDITIONS.get(opts.get("condition", "service_started"))
            if dep not in self.project.services or condition is None:
                continue
            ids = (converged or {}).get(dep)
            if ids is None:  # not part of this run (--no-deps): wait on what exists
                ids = [r["Id"] for r in self.containers([dep])]
            try:
                if not ids and opts.get("required", True):
                    raise DependencyFailed(f"service {name!r} is missing dependency {dep!r}: "
                                           f"it has no container (run `compose up {dep}`)")
                for cid in ids:
                    self.waiter.await_container(cid, condition, dep)
            except DependencyFailed as exc:
                if opts.get("required", True):
                    raise
                self.progress.warn(f"optional dependency {dep!r} of {name!r}: {exc}")

    def _create(self, name: str, number: int, image_id: str, start: bool,
                inherited: Mapping[str, str] | None = None, container_name: str | None = None) -> str:
        svc = self.project.services[name]
        cname = container_name or convert.container_name(self.project.name, name, svc, number)
        body = container_body(self.view, name, svc, number, image_id=image_id, peer=self.peers(svc),
                              inherited_volumes=inherited)
        self.progress.event("Container", cname, "Creating")
        cid = self.client.post("/containers/create", {"name": cname}, body)["Id"]
        self.progress.event("Container", cname, "Created")
        if start:
            self._start_or_remove(cid, cname)
        return cid

    def _start(self, cid: str, name: str) -> None:
        self.progress.event("Container", name, "Starting")
        self.client.post(f"/containers/{cid}/start")
        self.progress.event("Container", name, "Started")

    def _start_or_remove(self, cid: str, name: str) -> None:
        """Start a container ``up`` just made; one that cannot run (a port
        taken since the check) is removed rather than left half-made."""
        try:
            self._start(cid, name)
        except errors.DockyardError:
            self.client.delete(f"/containers/{cid}", {"force": True, "v": True})
            raise

    def _recreate(self, name: str, old: Observed, image_id: str, start: bool, timeout: int | None,
                  renew_anon_volumes: bool) -> str:
        """docker compose's order: the new container is made under a
        temporary name first, so a body the daemon refuses leaves the old one
        running; only then is the old one stopped and removed."""
        inherited = {} if renew_anon_volumes else self._inherited_volumes(name, old.id)
        self.progress.event("Container", old.name, "Recreate")
        cid = self._create(name, old.number, image_id, start=False, inherited=inherited,
                           container_name=f"{old.id[:12]}_{old.name}")
        try:
            if old.running:
                self.client.post(f"/containers/{old.id}/stop", {"t": timeout})
            self.client.delete(f"/containers/{old.id}", {"force": True})
            self.client.post(f"/containers/{cid}/rename", {"name": old.name})
        except errors.DockyardError:
            self.client.delete(f"/containers/{cid}", {"force": True})
            raise
        self.progress.event("Container", old.name, "Recreated")
        if start:
            self._start_or_remove(cid, old.name)
        return cid

    def _inherited_volumes(self, name: str, old_id: str) -> dict[str, str]:
        """Target → volume name of the old container's anonymous volumes, at
        the service's anonymous targets and the image's VOLUMEs: the data a
        recreated container must keep (a database's directory)."""
        svc = self.project.services[name]
        info = self.client.get(f"/containers/{old_id}/json")
        targets = {v["target"] for v in svc.get("volumes") or []
                   if v.get("type", "volume") == "volume" and not v.get("source")}
        try:
            image = self.client.get(f"/images/{info.get('Image', '')}/json")
            targets |= set((image.get("Config") or {}).get("Volumes") or {})
        except errors.NotFound:
            pass
        explicit = {v["target"] for v in svc.get("volumes") or [] if v.get("source")}
        return {m["Destination"]: m["Name"] for m in info.get("Mounts") or []
                if m.get("Type") == "volume" and m.get("Name") and m.get("Destination") in targets - explicit}

    def peers(self, svc: Mapping[str, Any]) -> dict[str, str]:
        """Service → the container id its namespace or volume references use
        (a running one when there is one)."""
        peers = {}
        for target in namespace_parents(svc):
            rows = sorted(self.containers([target]), key=lambda r: r.get("State") != "running")
            if rows:
                peers[target] = rows[0]["Id"]
        return peers

    def remove_container(self, cid: str, name: str, *, stop: bool, timeout: int | None,
                         volumes: bool = False) -> None:
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

    def _restart_dependents(self, order: list[str], plans: Mapping[str, ServicePlan],
                            results: Mapping[str, list[str]], timeout: int | None) -> None:
        changed = {n for n, p in plans.items() if p.recreate or p.remove}
        for name in order:
            if plans[name].changes:
                continue
            deps = self.project.services[name].get("depends_on") or {}
            if any(d in changed and o.get("restart") for d, o in deps.items()):
                for row in self.containers([name]):
                    if row["Id"] in results.get(name, []):
                        self.progress.event("Container", convert.row_name(row), "Restarting")
                        self.client.post(f"/containers/{row['Id']}/restart", {"t": timeout})
                        self.progress.event("Container", convert.row_name(row), "Started")

    # -- waiting ------------------------------------------------------------------------

    def wait_running(self, ids: Iterable[str], timeout: float | None = None) -> None:
        """``up --wait``: every container running, and healthy if it has a
        health check."""
        deadline = None if timeout is None else time.monotonic() + timeout
        services = {r["Id"]: convert.row_service(r) for r in self.containers()}

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(self.worker(self.waiter.await_container), cid, "ready",
                                   services.get(cid, ""), deadline) for cid in ids]
            self._run_all(pool, futures)
        for future in futures:
            future.result()

    # -- checks -------------------------------------------------------------------------

    def _check_ports(self, order: list[str], rows: list[dict[str, Any]]) -> None:
        """Published host ports free, or held by the project's own containers
        (which ``up`` keeps or replaces): an error before anything is made.
        The check binds on this machine, which is the daemon's: the client
        only speaks to unix sockets."""
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
                if key not in ours and not _port_free(*key):
                    raise errors.Conflict(f"service {name!r}: Bind for {key[0]}:{key[1]} failed: "
                                          "port is already allocated")


def _port_free(host_ip: str, port: int, protocol: str) -> bool:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    try:
        with socket.socket(family, kind) as s:
            s.bind((host_ip, port))
    except OSError:
        return False
    return True

