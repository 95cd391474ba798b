"""Every path under the data root, computed in one place.

    <data-root>/                       (default /var/lib/dockyard)
    ├── metadata.db                    SQLite (WAL): images, tags, containers, …
    ├── content/
    │   ├── blobs/sha256/<hex>         blobs by digest, immutable once visible
    │   └── ingest/<random>            partial writes; never read as content
    ├── snapshots/
    │   ├── committed/<chain-hex>/
    │   │   ├── fs/                    an unpacked layer (overlay: the diff only;
    │   │   │                          native: the whole chain, copied)
    │   │   └── parent                 the parent's chain id, absent for a base
    │   ├── active/<key>/
    │   │   ├── fs/, work/             writable layer (overlay upper + work dir)
    │   │   └── parent                 the committed snapshot it sits on
    │   └── tmp/<random>/              unpacking in progress; renamed when done
    ├── containers/<id>/
    │   ├── config.json                the OCI bundle's runtime spec
    │   ├── rootfs/                    mount point of the root filesystem
    │   ├── hostname, hosts, resolv.conf
    │   ├── <id>-json.log              json-file log written by the shim
    │   ├── shim.sock                  the shim's control socket
    │   ├── shim.pid                   the shim's pid
    │   └── exit.json                  written by the shim when the process ends
    ├── volumes/                       the local volume driver's root (docker's layout)
    │   ├── <name>/
    │   │   ├── _data/                 the volume's content, or the mount point of its
    │   │   │                          device (tmpfs, bind, nfs …) while in use
    │   │   └── opts.json              driver options (type, device, o), when given
    │   └── .tmp/<random>/             a volume being created (renamed into place) or
    │                                  removed (renamed out, then deleted)
    └── tmp/                           scratch space on the same filesystem

Nothing else builds paths under the data root by string concatenation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DataRoot:
    root: str

    @property
    def metadata_db(self) -> str:
        return os.path.join(self.root, "metadata.db")

    @property
    def content(self) -> str:
        return os.path.join(self.root, "content")

    @property
    def snapshots(self) -> str:
        return os.path.join(self.root, "snapshots")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def volumes(self) -> str:
        return os.path.join(self.root, "volumes")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    def container(self, container_id: str) -> "ContainerPaths":
        return ContainerPaths(os.path.join(self.containers, container_id), container_id)

    def ensure(self) -> None:
        for d in (self.root, self.content, self.snapshots, self.containers, self.tmp):
            os.makedirs(d, mode=0o711, exist_ok=True)


@dataclass(frozen=True, slots=True)
class ContentPaths:
    """Paths under the content store's root (DataRoot.content)."""

    root: str

    @property
    def blobs(self) -> str:
        return os.path.join(self.root, "blobs", "sha256")

    @property
    def ingest(self) -> str:
        return os.path.join(self.root, "ingest")

    def blob(self, hex_digest: str) -> str:
        return os.path.join(self.blobs, hex_digest)


@dataclass(frozen=True, slots=True)
class SnapshotPaths:
    """Paths under a snapshotter's root (DataRoot.snapshots)."""

    root: str

    @property
    def committed_dir(self) -> str:
        return os.path.join(self.root, "committed")

    @property
    def active_dir(self) -> str:
        return os.path.join(self.root, "active")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    def committed(self, chain_hex: str) -> str:
        return os.path.join(self.committed_dir, chain_hex)

    def active(self, key: str) -> str:
        return os.path.join(self.active_dir, key)

    @staticmethod
    def fs(snapshot_dir: str) -> str:
        return os.path.join(snapshot_dir, "fs")

    @staticmethod
    def work(snapshot_dir: str) -> str:
        return os.path.join(snapshot_dir, "work")

    @staticmethod
    def parent_file(snapshot_dir: str) -> str:
        return os.path.join(snapshot_dir, "parent")


@dataclass(frozen=True, slots=True)
class VolumePaths:
    """Paths under the local volume driver's root (DataRoot.volumes).

    Volume names start with [a-zA-Z0-9], so `.tmp` never collides with one.
    """

    root: str

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, ".tmp")

    def volume(self, name: str) -> str:
        return os.path.join(self.root, name)

    def data(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def options(self, name: str) -> str:
        return os.path.join(self.root, name, "opts.json")

    @staticmethod
    def data_in(volume_dir: str) -> str:
        return os.path.join(volume_dir, "_data")

    @staticmethod
    def options_in(volume_dir: str) -> str:
        return os.path.join(volume_dir, "opts.json")


@dataclass(frozen=True, slots=True)
class ContainerPaths:
    dir: str
    id: str

    @property
    def config(self) -> str:
        return os.path.join(self.dir, "config.json")

    @property
    def rootfs(self) -> str:
        return os.path.join(self.dir, "rootfs")

    @property
    def hostname(self) -> str:
        return os.path.join(self.dir, "hostname")

    @property
    def hosts(self) -> str:
        return os.path.join(self.dir, "hosts")

    @property
    def resolv_conf(self) -> str:
        return os.path.join(self.dir, "resolv.conf")

    @property
    def log(self) -> str:
        return os.path.join(self.dir, f"{self.id}-json.log")

    @property
    def shim_socket(self) -> str:
        return os.path.join(self.dir, "shim.sock")

    @property
    def shim_pid(self) -> str:
        return os.path.join(self.dir, "shim.pid")

    @property
    def exit_file(self) -> str:
        return os.path.join(self.dir, "exit.json")
