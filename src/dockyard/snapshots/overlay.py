"""The overlay snapshotter: each committed snapshot holds one layer's diff.

A container's root is an overlay mount: the chain's trees as lowerdirs
(topmost first), the active snapshot's `fs` as upperdir.  Whiteouts are
stored the way overlayfs reads them, so a committed tree is usable as a lower
directory as is.  Needs overlayfs and root (whiteouts are device nodes, the
opaque marker a trusted.* xattr).
"""

from __future__ import annotations

import os

from dockyard.mount import Mount
from dockyard.paths import SnapshotPaths
from dockyard.snapshots.apply import WhiteoutMode
from dockyard.snapshots.base import LocalSnapshotter


class OverlaySnapshotter(LocalSnapshotter):
    driver_name = "overlay2"
    whiteout_mode = WhiteoutMode.OVERLAY

    def _fill_active(self, snapshot_dir: str, parent: str | None) -> None:
        os.mkdir(SnapshotPaths.fs(snapshot_dir), 0o755)
        os.mkdir(SnapshotPaths.work(snapshot_dir), 0o700)

    def _fill_for_apply(self, fs: str, parent: str | None) -> None:
        os.mkdir(fs, 0o755)

    def _active_mounts(self, snapshot_dir: str, parent: str | None) -> list[Mount]:
        # An active snapshot after prepare is renamed from tmp/, so compute
        # paths from its final location, which is what the kernel will see.
        upper = SnapshotPaths.fs(snapshot_dir)
        if parent is None:
            return [Mount("bind", upper, ("rbind", "rw"))]
        lower = ":".join(self.layer_dirs(parent))
        options = (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={SnapshotPaths.work(snapshot_dir)}", "index=off")
        return [Mount("overlay", "overlay", options)]

    def _view_mounts(self, parent: str) -> list[Mount]:
        dirs = self.layer_dirs(parent)
        if len(dirs) == 1:
            return [Mount("bind", dirs[0], ("rbind", "ro"))]
        # Overlay with lowerdirs only is read-only by construction.
        return [Mount("overlay", "overlay", (f"lowerdir={':'.join(dirs)}", "index=off"))]


def diff_dirs(mounts: list[Mount], upper_only_bind: bool) -> tuple[str | None, list[str]]:
    """(upper dir, lower dirs top-first) of an active snapshot's mounts.

    An overlay mount names both; a bind mount is either an overlay
    snapshot without a parent (``upper_only_bind``: the bind source is the
    upper dir and there is nothing below) or a copying snapshotter's full
    tree (no upper dir: changes cannot be told from the tree alone).
    """
    for m in mounts:
        if m.type == "overlay":
            opts = dict(o.split("=", 1) for o in m.options if "=" in o)
            lower = opts.get("lowerdir", "")
            return opts.get("upperdir"), lower.split(":") if lower else []
        if upper_only_bind:
            return m.source, []
        return None, [m.source]
    return None, []
