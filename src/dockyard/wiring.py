"""The composition root: the one place that reads configuration and builds objects.

Nothing registers itself on import; `build` creates the stores, services and
the route table in dependency order and hands back a `Daemon` holding them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass

from .content.store import ContentStore
from .daemon.http import Router, json_response
from .daemon.routes import archive as archive_routes
from .daemon.routes import build as build_routes
from .daemon.routes import containers as container_routes
from .daemon.routes import distribution as distribution_routes
from .daemon.routes import execs as exec_routes
from .daemon.routes import images as image_routes
from .daemon.routes import networks as network_routes
from .daemon.routes import system as system_routes
from .daemon.routes import volumes as volume_routes
from .distribution.client import Registries
from .distribution.client_endpoint import DaemonConfig, daemon_config_paths
from .distribution.pull import Puller
from .distribution.push import Pusher
from .distribution.push_sources import BlobSources
from .images.removal import ContainerUse
from .images.store import ImageStore
from .metadata.db import Database
from .paths import DataRoot
from .services.builds import BuildService
from .services.container_resources import ContainerResources
from .services.container_files_api import ContainerFiles
from .services.container_mounts import ContainerMounts, MountPoint
from .services.containers import ContainerService
from .services.disk_usage import system_df
from .services.events import EventBus
from .services.execs import ExecService
from .services.health import HealthMonitor
from .services.images import ImageService
from .services.networks import NetworkService
from .services.volumes import VolumeService
from .snapshots import choose_snapshotter
from .volumes import LocalDriver


class ContainerImages:
    """The image store seen from the container service (its ImageProvider)."""

    def __init__(self, store: ImageStore):
        self.store = store

    def image_for_container(self, name: str) -> tuple[str, dict]:
        image_id = self.store.resolve(name)
        return image_id, {"config": self.store.config(image_id).config.to_api()}

    def prepare_rootfs(self, image_id: str, key: str) -> list:
        return self.store.prepare_rootfs(image_id, key)

    def rootfs_mounts(self, key: str) -> list:
        return self.store.rootfs_mounts(key)

    def remove_rootfs(self, key: str) -> None:
        self.store.remove_rootfs(key)

    def rootfs_usage(self, key: str) -> int:
        return self.store.snapshotter.usage(key)

    def image_size(self, image_id: str) -> int:
        try:
            return self.store.get(image_id).size
        except Exception:  # noqa: BLE001 - an image deleted since counts as nothing
            return 0

    def read_image_file(self, image_id: str, path: str) -> bytes | None:
        try:
            return self.store.read_file_in_image(image_id, path)
        except Exception:  # noqa: BLE001 - a missing /etc/passwd is normal in minimal images
            return None


@dataclass
class Daemon:
    root: DataRoot
    db: Database
    events: EventBus
    images: ImageService
    containers: ContainerService
    volumes: VolumeService
    networks: NetworkService
    router: Router

    def close(self) -> None:
        self.db.close()


def _daemon_id(root: DataRoot) -> str:
    path = os.path.join(root.root, "engine-id")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        value = secrets.token_hex(16)
        with open(path, "w") as f:
            f.write(value)
        return value


def _snapshotter_choice(root: DataRoot):
    """Probe once, then keep the choice: overlay and copied layers must never mix."""
    record = os.path.join(root.root, "snapshotter")
    try:
        with open(record) as f:
            prefer = f.read().strip() or None
    except FileNotFoundError:
        prefer = None
    snapshotter = choose_snapshotter(root.snapshots, prefer=prefer)
    if prefer is None:
        with open(record, "w") as f:
            f.write(snapshotter.driver_name)
    return snapshotter


def _network_instance(root: DataRoot) -> str:
    """"" for the host's daemon (the default data root), else a short tag of
    the data root, so that test daemons own their own table and bridge."""
    if os.path.realpath(root.root) == "/var/lib/dockyard":
        return ""
    import hashlib

    return hashlib.sha256(os.path.realpath(root.root).encode()).hexdigest()[:8]


def build(data_root: str, forkserver) -> Daemon:
    root = DataRoot(data_root)
    root.ensure()
    db = Database(root.metadata_db)
    events = EventBus()
    content = ContentStore(root.content)
    content.clean_ingests()
    snapshotter = _snapshotter_choice(root)
    snapshotter.cleanup()
    store = ImageStore(db, content, snapshotter)
    containers = ContainerService(db, root, ContainerImages(store), events, forkserver)
    volumes = VolumeService(db, root, {"local": LocalDriver(root.volumes)}, events,
                            in_use=lambda name: mounts.users(containers.all(), name))
    mounts = ContainerMounts(volumes, store.layer_dirs, containers.get)
    containers.mounts = mounts
    networks = NetworkService(db, root, events, containers.all, containers.save_networks,
                              instance=_network_instance(root))
    containers.networks = networks
    containers.on_exit.append(mounts.release)

    def describe_mounts(c) -> list:
        return [MountPoint(**m).to_api(volumes) for m in c.mounts]
    images = ImageService(
        store, in_use_by=lambda image_id: [ContainerUse(c.id, c.state.running) for c in containers.using_image(image_id)]
    )

    def image_ids_for(ref: str) -> set[str]:
        try:
            return {store.resolve(ref)}
        except Exception:  # noqa: BLE001 - an unknown ancestor matches nothing
            return set()

    def counts() -> tuple[int, int, int, int, int]:
        all_ = containers.all()
        running = sum(1 for c in all_ if c.state.status == "running")
        paused = sum(1 for c in all_ if c.state.status == "paused")
        return len(all_), running, paused, len(all_) - running - paused, len(images.list(all=False))

    router = Router()
    system_routes.register(router, events=events, counts=counts, data_root=root.root, daemon_id=_daemon_id(root))
    container_routes.register(router, containers, ContainerResources(containers), image_ids_for, describe_mounts)
    volume_routes.register(router, volumes)
    network_routes.register(router, networks, containers)
    archive_routes.register(router, ContainerFiles(containers, store), root.tmp)

    builds = BuildService(db, store, containers, root, in_use_by=lambda image_id: containers.using_image(image_id))
    build_routes.register(router, builds)

    async def df(req):
        return json_response(await asyncio.to_thread(system_df, images, store, containers, volumes, describe_mounts,
                                                     builds.usage))

    router.add("GET", "/system/df", df)
    execs = ExecService(containers)
    HealthMonitor(containers, execs)
    exec_routes.register(router, execs)
    registries = Registries(DaemonConfig(daemon_config_paths(root.root)))
    blob_sources = BlobSources(db)
    distribution_routes.register(router, registries, Pusher(store, registries, blob_sources), events)
    pull = distribution_routes.pull_handler(Puller(store, registries, blob_sources), events)
    image_routes.register(router, images, events, root, pull=pull)
    return Daemon(root, db, events, images, containers, volumes, networks, router)
