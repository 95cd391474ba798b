"""Every path under the data root, computed in one place.

    <data-root>/                       (default /var/lib/dockyard)
    ├── metadata.db                    SQLite (WAL): images, tags, containers, …
    ├── content/
    │   ├── blobs/sha256/<hex>         blobs by digest, immutable once visible
    │   └── ingest/<random>            partial writes; never read as content
    ├── snapshots/
    │   ├── committed/<chain-hex>/fs   unpacked layers, read-only lower dirs
    │   ├── active/<key>/{fs,work}     writable layers (overlay upper + work)
    │   └── tmp/<random>               unpacking in progress; renamed when done
    ├── containers/<id>/
    │   ├── config.json                the OCI bundle's runtime spec
    │   ├── rootfs/                    mount point of the root filesystem
    │   ├── hostname, hosts, resolv.conf
    │   ├── <id>-json.log              json-file log written by the shim
    │   ├── shim.sock                  the shim's control socket
    │   ├── shim.pid                   the shim's pid
    │   └── exit.json                  written by the shim when the process ends
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
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    def container(self, container_id: str) -> "ContainerPaths":
        return ContainerPaths(os.path.join(self.containers, container_id), container_id)

    def ensure(self) -> None:
        for d in (self.root, self.content, self.snapshots, self.containers, self.tmp):
            os.makedirs(d, mode=0o711, exist_ok=True)


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
