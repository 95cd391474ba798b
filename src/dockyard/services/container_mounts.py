"""A container's mounts: volumes, bind mounts and tmpfs, from create to remove.

At create the request's ``-v`` (HostConfig.Binds), ``--mount``
(HostConfig.Mounts), ``--tmpfs`` (HostConfig.Tmpfs), ``--volumes-from`` and
the image's VOLUMEs become a list of `MountPoint`s, recorded with the
container: named volumes are created when missing, anonymous ones get a
random name, a missing host directory for ``-v`` is created (``--mount``
refuses it, as docker does), and two mounts on one destination are an error.

At start each mount point becomes an OCI mount entry; a volume is mounted by
its driver first, and a new, empty volume is filled once with what the
image has at the destination (docker's copy-up).  At exit the volumes are
released; ``rm -v`` and ``run --rm`` remove the anonymous ones.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import asdict, dataclass
from typing import Callable

from .. import errors
from ..snapshots.apply import OVERLAY_OPAQUE_XATTR
from .container_state import Container
from .volumes import VolumeService


@dataclass
class MountPoint:
    type: str  # volume, bind or tmpfs
    destination: str
    source: str = ""  # host path (bind) or volume name (volume)
    read_write: bool = True
    options: str = ""  # tmpfs options: size=…,mode=…
    anonymous: bool = False
    propagation: str = "rprivate"

    def to_api(self, volumes: VolumeService) -> dict:
        doc = {"Type": self.type, "Source": self.source, "Destination": self.destination,
               "Mode": "" if self.read_write else "ro", "RW": self.read_write, "Propagation": self.propagation}
        if self.type == "volume":
            doc["Name"] = self.source
            doc["Driver"] = "local"
            try:
                doc["Source"] = volumes.get(self.source).mountpoint
            except errors.NotFound:
                doc["Source"] = ""
            doc["Mode"] = "z" if self.read_write else "ro"
            doc["Propagation"] = ""
        elif self.type == "tmpfs":
            doc["Source"] = ""
            doc["Propagation"] = ""
        return doc


def _split_bind(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise errors.InvalidArgument(f"invalid volume specification: '{spec}'")


class ContainerMounts:
    def __init__(self, volumes: VolumeService, layer_dirs: Callable[[str], list[str]], lookup: Callable[[str], Container]):
        self.volumes = volumes
        self.layer_dirs = layer_dirs
        self.lookup = lookup

    # -- create ---------------------------------------------------------------------

    def plan(self, config: dict, host_config: dict) -> list[dict]:
        """The mount points of a new container, as JSON for its record."""
        points: list[MountPoint] = []

        def add(p: MountPoint) -> None:
            if not p.destination.startswith("/"):
                raise errors.InvalidArgument(f"invalid mount config: mount path must be absolute: {p.destination}")
            p.destination = os.path.normpath(p.destination)
            if p.destination == "/":
                raise errors.InvalidArgument("invalid specification: destination can't be '/'")
            if any(q.destination == p.destination for q in points):
                raise errors.InvalidArgument(f"Duplicate mount point: {p.destination}")
            points.append(p)

        def volume(name: str, anonymous: bool = False) -> str:
            if not name or anonymous:
                return self.volumes.create(None, anonymous=True).name
            else:
                v = self.volumes.create(name)
            return v.name

        try:
            for spec in host_config.get("Binds") or []:
                src, dst, mode = _split_bind(spec)
                modes = set(mode.split(",")) if mode else set()
                bad = modes - {"ro", "rw", "z", "Z", "nocopy", "rprivate", "private", "rslave", "slave", "rshared", "shared"}
                if bad:
                    raise errors.InvalidArgument(f"invalid mode: {mode}")
                rw = "ro" not in modes
                if src.startswith("/"):
                    if not os.path.exists(src):
                        os.makedirs(src, mode=0o755)  # docker creates a missing host directory for -v
                    add(MountPoint("bind", dst, src, rw))
                elif not src:
                    add(MountPoint("volume", dst, volume("", True), rw, anonymous=True))
                else:
                    add(MountPoint("volume", dst, volume(src), rw))
            for m in host_config.get("Mounts") or []:
                kind = (m.get("Type") or "").lower()
                target = m.get("Target") or m.get("Destination") or ""
                rw = not m.get("ReadOnly")
                if kind == "bind":
                    src = m.get("Source") or ""
                    if not os.path.exists(src):
                        raise errors.InvalidArgument(
                            f'invalid mount config for type "bind": bind source path does not exist: {src}')
                    add(MountPoint("bind", target, src, rw))
                elif kind == "volume":
                    src = m.get("Source") or ""
                    add(MountPoint("volume", target, volume(src, not src), rw, anonymous=not src))
                elif kind == "tmpfs":
                    opts = m.get("TmpfsOptions") or {}
                    words = []
                    if opts.get("SizeBytes"):
                        words.append(f"size={int(opts['SizeBytes'])}")
                    if opts.get("Mode"):
                        words.append(f"mode={int(opts['Mode']):o}")
                    add(MountPoint("tmpfs", target, "", rw, ",".join(words)))
                else:
                    raise errors.InvalidArgument(f'invalid mount config: mount type unknown: "{kind}"')
            for dst, opts in (host_config.get("Tmpfs") or {}).items():
                add(MountPoint("tmpfs", dst, "", "ro" not in (opts or "").split(","), opts or ""))
            for spec in host_config.get("VolumesFrom") or []:
                ref, _, mode = spec.partition(":")
                other = self.lookup(ref)
                for raw in getattr(other, "mounts", []) or []:
                    p = MountPoint(**raw)
                    if p.type == "tmpfs" or any(q.destination == p.destination for q in points):
                        continue
                    if mode == "ro":
                        p.read_write = False
                    p.anonymous = False  # shared now: it belongs to the first container
                    points.append(p)
            for dst in (config.get("Volumes") or {}):
                if not any(os.path.normpath(dst) == q.destination for q in points):
                    add(MountPoint("volume", dst, volume("", True), True, anonymous=True))
        except BaseException:
            # nothing half-made: the anonymous volumes made for this request go
            for p in points:
                if p.type == "volume" and p.anonymous:
                    try:
                        self.volumes.remove(p.source, force=True)
                    except errors.DockyardError:
                        pass
            raise
        return [asdict(p) for p in points]

    # -- start / exit / remove ------------------------------------------------------------

    def oci_mounts(self, c: Container) -> list[dict]:
        mounts = []
        for raw in c.mounts:
            p = MountPoint(**raw)
            opts = ["rbind", p.propagation] + ([] if p.read_write else ["ro"])
            if p.type == "bind":
                mounts.append({"destination": p.destination, "type": "bind", "source": p.source, "options": opts})
            elif p.type == "volume":
                path = self.volumes.mount(p.source, c.id, p.destination, p.read_write)
                if self.volumes.copy_up_needed(p.source):
                    copy_image_path(self.layer_dirs(c.image_id), p.destination, path)
                    self.volumes.mark_populated(p.source)
                mounts.append({"destination": p.destination, "type": "bind", "source": path, "options": opts})
            else:
                words = ["nosuid", "nodev", "noexec"] + [w for w in p.options.split(",") if w]
                mounts.append({"destination": p.destination, "type": "tmpfs", "source": "tmpfs", "options": words})
        return mounts

    def release(self, c: Container) -> None:
        for raw in c.mounts:
            if raw["type"] == "volume":
                try:
                    self.volumes.unmount(raw["source"], c.id)
                except errors.DockyardError:
                    pass

    def remove_anonymous(self, c: Container) -> None:
        for raw in c.mounts:
            if raw["type"] == "volume" and raw.get("anonymous"):
                try:
                    self.volumes.remove(raw["source"], force=True)
                except errors.Conflict:
                    pass  # still used by another container (--volumes-from)

    def users(self, containers: list[Container], name: str) -> list[str]:
        return [c.id for c in containers if any(m["type"] == "volume" and m["source"] == name for m in c.mounts)]


def copy_image_path(layers_top_first: list[str], path: str, dest: str) -> None:
    """Copy what the image has at `path` into `dest` (docker's copy-up into a new volume).

    The layers are merged bottom-up with overlay's rules: a whiteout deletes,
    an opaque directory hides what lower layers had.  Nothing is copied when
    the image has no directory there.
    """
    rel = path.strip("/")
    for layer in reversed(layers_top_first):
        src = os.path.join(layer, rel)
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            _clear(dest)  # whited out in this layer
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        if _opaque(src):
            _clear(dest)
        os.chown(dest, st.st_uid, st.st_gid)
        os.chmod(dest, stat.S_IMODE(st.st_mode))
        _merge_tree(src, dest)


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _clear(dest: str) -> None:
    for entry in os.listdir(dest):
        p = os.path.join(dest, entry)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def _merge_tree(src: str, dest: str) -> None:
    for entry in os.scandir(src):
        target = os.path.join(dest, entry.name)
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.unlink(target)
            continue
        if entry.is_dir(follow_symlinks=False):
            if os.path.lexists(target) and not os.path.isdir(target):
                os.unlink(target)
            os.makedirs(target, exist_ok=True)
            if _opaque(entry.path):
                _clear(target)
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, stat.S_IMODE(st.st_mode))
            _merge_tree(entry.path, target)
            continue
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        else:
            shutil.copy2(entry.path, target, follow_symlinks=False)
        os.lchown(target, st.st_uid, st.st_gid)
