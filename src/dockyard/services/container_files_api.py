"""A container's files through the API: archive (cp), export, changes (diff), commit.

A running container is seen through its init's root (``/proc/<pid>/root``):
that is its mount namespace, volumes included.  A stopped one is mounted
for the length of the operation in a private directory and unmounted after.
While a copy reads or writes, a running container is frozen, so that no
process inside can swap a checked directory for a symlink halfway through
(moby does the same since CVE-2018-15664).  Export, diff and commit read
the snapshot layers directly and never mount.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from .. import errors
from ..archive import changes as archive_changes
from ..archive.copy_in import extract_into
from ..archive.copy_out import tar_from
from ..archive.export import export_rootfs
from ..archive.stat import encode_header, path_stat
from ..mount import mounted
from ..runtime import cgroups
from ..snapshots.overlay import diff_dirs
from .container_state import Container
from .containers import ContainerService


class ContainerFiles:
    def __init__(self, containers: ContainerService, store):
        self.containers = containers
        self.store = store  # images.store.ImageStore

    @contextlib.contextmanager
    def root(self, c: Container, freeze: bool = True) -> Iterator[str]:
        if c.state.running and c.state.pid:
            group = cgroups.Cgroup(f"/dockyard/{c.id}")
            frozen = freeze and c.state.status == "running"
            if frozen:
                try:
                    group.freeze()
                except OSError:
                    frozen = False
            try:
                yield f"/proc/{c.state.pid}/root"
            finally:
                if frozen:
                    try:
                        group.thaw()
                    except OSError:
                        pass
            return
        with mounted(self.store.rootfs_mounts(c.id), self.containers.paths(c).dir) as target:
            yield target

    # -- archive (cp) --------------------------------------------------------------

    def stat(self, ref: str, path: str) -> str:
        c = self.containers.get(ref)
        with self.root(c) as root:
            return encode_header(path_stat(root, path, container=c.id))

    def get_archive(self, ref: str, path: str) -> tuple[str, bytes]:
        """(stat header, tar) for GET /containers/{id}/archive."""
        c = self.containers.get(ref)
        with self.root(c) as root:
            header = encode_header(path_stat(root, path, container=c.id))
            data = b"".join(tar_from(root, path, container=c.id))
        return header, data

    def put_archive(self, ref: str, path: str, stream, no_overwrite_dir_non_dir: bool, copy_uid_gid: bool) -> None:
        c = self.containers.get(ref)
        if c.host_config.get("ReadonlyRootfs"):
            raise errors.Forbidden("container rootfs is marked read-only")
        with self.root(c) as root:
            extract_into(root, path, stream, no_overwrite_dir_non_dir, copy_uid_gid,
                         user=c.config.get("User") or "", container=c.id)

    # -- export, changes, commit ------------------------------------------------------

    def _layers(self, c: Container) -> tuple[str | None, list[str]]:
        """(upper dir or None, lower dirs top-first) of the container's rootfs."""
        return diff_dirs(self.store.rootfs_mounts(c.id), upper_only_bind=False)

    def export(self, ref: str) -> Iterator[bytes]:
        c = self.containers.get(ref)
        upper, lowers = self._layers(c)
        return export_rootfs(lowers, upper)

    def changes(self, ref: str) -> list[dict]:
        c = self.containers.get(ref)
        upper, lowers = self._layers(c)
        if upper is None:
            raise errors.InvalidArgument("changes are not available with the copying snapshotter")
        points = set(archive_changes.RUNTIME_MOUNT_POINTS) | {m["destination"] for m in c.mounts}
        return [ch.to_api() for ch in archive_changes.changes(upper, lowers, points)]

    def commit(self, ref: str, repo: str, tag: str, comment: str, author: str, changes: list[str],
               config: dict | None) -> str:
        c = self.containers.get(ref)
        upper, lowers = self._layers(c)
        if upper is None:
            raise errors.InvalidArgument("commit is not available with the copying snapshotter")
        points = set(archive_changes.RUNTIME_MOUNT_POINTS) | {m["destination"] for m in c.mounts}
        image_config = dict(c.config)
        image_config.update({k: v for k, v in (config or {}).items() if v})
        for key in ("Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                    "OpenStdin", "StdinOnce", "Image"):
            image_config.pop(key, None)
        reference = None
        if repo:
            reference = f"{repo}:{tag}" if tag else repo
        with archive_changes.spooled_layer(upper, lowers, points, self.containers.root.tmp) as spool:
            created_by = " ".join([c.path, *c.args])
            return self.store.commit(c.image_id, spool, image_config, changes, comment, author, created_by, reference)
