"""What both local snapshotters share: the on-disk layout and its bookkeeping.

The layout (drawn in paths.py) keeps each snapshot's parent in a small file
next to its tree, so the filesystem is the only record: there is nothing to
get out of step with.  Subclasses decide what a tree holds (a diff or a full
copy), how it is mounted, and how layers are unpacked into it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from typing import BinaryIO, Iterator

from dockyard.content.digest import Digest, as_digest
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.mount import Mount
from dockyard.paths import SnapshotPaths
from dockyard.snapshots import lookup
from dockyard.snapshots.apply import WhiteoutMode, apply_layer, chain_id
from dockyard.snapshots.snapshotter import LayerResult

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_VIEW_MARKER = "view"


def validate_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidArgument(f"invalid snapshot key: {key!r}")
    return key


class LocalSnapshotter:
    driver_name = "local"
    whiteout_mode = WhiteoutMode.OVERLAY

    def __init__(self, root: str):
        self.paths = SnapshotPaths(root)
        for d in (self.paths.committed_dir, self.paths.active_dir, self.paths.tmp):
            os.makedirs(d, mode=0o700, exist_ok=True)

    # -- naming ------------------------------------------------------------

    def _committed(self, name: str | Digest) -> str:
        return self.paths.committed(as_digest(name).hex)

    def _active(self, key: str) -> str:
        return self.paths.active(validate_key(key))

    def _existing_committed(self, name: str | Digest) -> str:
        d = self._committed(name)
        if not os.path.isdir(d):
            raise NotFound(f"snapshot {name} does not exist")
        return d

    def _existing_active(self, key: str) -> str:
        d = self._active(key)
        if not os.path.isdir(d):
            raise NotFound(f"snapshot {key} does not exist")
        return d

    def _new_tmp(self) -> str:
        d = os.path.join(self.paths.tmp, secrets.token_hex(16))
        os.mkdir(d, 0o700)
        return d

    @staticmethod
    def _read_parent(snapshot_dir: str) -> str | None:
        try:
            with open(SnapshotPaths.parent_file(snapshot_dir)) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    @staticmethod
    def _write_parent(snapshot_dir: str, parent: str | None) -> None:
        if parent is not None:
            with open(SnapshotPaths.parent_file(snapshot_dir), "w") as f:
                f.write(str(parent))

    # -- queries -------------------------------------------------------------

    def exists(self, name: str) -> bool:
        try:
            return os.path.isdir(self._committed(name))
        except InvalidArgument:
            return False

    def active_exists(self, key: str) -> bool:
        try:
            return os.path.isdir(self._active(key))
        except InvalidArgument:
            return False

    def _any_dir(self, key_or_name: str) -> str:
        if key_or_name.startswith("sha256:"):
            return self._existing_committed(key_or_name)
        return self._existing_active(key_or_name)

    def parent(self, key_or_name: str) -> str | None:
        return self._read_parent(self._any_dir(key_or_name))

    def usage(self, key_or_name: str) -> int:
        return disk_usage(SnapshotPaths.fs(self._any_dir(key_or_name)))

    def chain(self, name: str) -> list[str]:
        """`name` and its ancestors, topmost first."""
        out = []
        current: str | None = name
        while current is not None:
            out.append(current)
            current = self._read_parent(self._existing_committed(current))
        return out

    def layer_dirs(self, name: str) -> list[str]:
        return [SnapshotPaths.fs(self._committed(n)) for n in self.chain(name)]

    def read_file(self, name: str, path: str) -> bytes:
        return lookup.read_file(self.layer_dirs(name), path)

    def walk(self) -> Iterator[str]:
        for entry in sorted(os.listdir(self.paths.committed_dir)):
            yield f"sha256:{entry}"

    def _children(self, name: str) -> list[str]:
        out = []
        for base in (self.paths.committed_dir, self.paths.active_dir):
            for entry in os.listdir(base):
                if self._read_parent(os.path.join(base, entry)) == name:
                    out.append(entry)
        return out

    # -- changes ---------------------------------------------------------------

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        d = self._active(key)
        if os.path.exists(d):
            raise Conflict(f"snapshot {key} already exists")
        if parent is not None:
            self._existing_committed(parent)
        tmp = self._new_tmp()
        try:
            self._fill_active(tmp, parent)
            self._write_parent(tmp, parent)
            os.rename(tmp, d)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.mounts(key)

    def view(self, key: str, parent: str) -> list[Mount]:
        d = self._active(key)
        if os.path.exists(d):
            raise Conflict(f"snapshot {key} already exists")
        self._existing_committed(parent)
        tmp = self._new_tmp()
        self._write_parent(tmp, parent)
        open(os.path.join(tmp, _VIEW_MARKER), "w").close()
        os.rename(tmp, d)
        return self.mounts(key)

    def mounts(self, key: str) -> list[Mount]:
        d = self._existing_active(key)
        parent = self._read_parent(d)
        if os.path.exists(os.path.join(d, _VIEW_MARKER)):
            return self._view_mounts(parent)  # type: ignore[arg-type]
        return self._active_mounts(d, parent)

    def commit(self, name: str, key: str) -> None:
        d = self._existing_active(key)
        if os.path.exists(os.path.join(d, _VIEW_MARKER)):
            raise InvalidArgument(f"snapshot {key} is a view and cannot be committed")
        target = self._committed(name)
        if os.path.exists(target):
            raise Conflict(f"snapshot {name} already exists")
        shutil.rmtree(SnapshotPaths.work(d), ignore_errors=True)
        os.rename(d, target)

    def remove(self, key_or_name: str) -> None:
        d = self._any_dir(key_or_name)
        if key_or_name.startswith("sha256:"):
            children = self._children(key_or_name)
            if children:
                raise Conflict(f"snapshot {key_or_name} has children: {', '.join(children)}")
        # Out of sight first, then delete: a half-deleted tree is never visible.
        graveyard = os.path.join(self.paths.tmp, secrets.token_hex(16))
        os.rename(d, graveyard)
        shutil.rmtree(graveyard, ignore_errors=True)

    def apply_layer(self, parent: str | None, stream: BinaryIO) -> LayerResult:
        if parent is not None:
            self._existing_committed(parent)
        tmp = self._new_tmp()
        try:
            fs = SnapshotPaths.fs(tmp)
            self._fill_for_apply(fs, parent)
            applied = apply_layer(stream, fs, self.whiteout_mode)
            name = chain_id(parent, applied.diff_id)
            self._write_parent(tmp, parent)
            target = self._committed(name)
            created = False
            if not os.path.exists(target):
                try:
                    os.rename(tmp, target)
                    created = True
                except OSError:
                    if not os.path.exists(target):
                        raise
            return LayerResult(name, applied.diff_id, applied.size, applied.compression, created)
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)

    def cleanup(self) -> None:
        for entry in os.listdir(self.paths.tmp):
            shutil.rmtree(os.path.join(self.paths.tmp, entry), ignore_errors=True)

    # -- what subclasses decide -----------------------------------------------------

    def _fill_active(self, snapshot_dir: str, parent: str | None) -> None:
        raise NotImplementedError

    def _fill_for_apply(self, fs: str, parent: str | None) -> None:
        raise NotImplementedError

    def _active_mounts(self, snapshot_dir: str, parent: str | None) -> list[Mount]:
        raise NotImplementedError

    def _view_mounts(self, parent: str) -> list[Mount]:
        raise NotImplementedError


def disk_usage(path: str) -> int:
    """Apparent size of the files under `path`, each inode counted once.

    The figure docker reports (moby's directory.Size): st_size of every
    non-directory, hard links counted once.
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            entries = os.scandir(current)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += st.st_size
    return total
