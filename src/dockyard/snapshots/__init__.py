"""Snapshots: unpacked layers and container root filesystems.

`Snapshotter` (snapshotter.py) is the role and its design notes;
`OverlaySnapshotter` and `NativeSnapshotter` implement it; `choose_snapshotter`
picks the best one the kernel allows.
"""

from __future__ import annotations

import os
import secrets
import shutil

from dockyard.errors import DockyardError
from dockyard.mount import Mount, mount_all, unmount
from dockyard.snapshots.native import NativeSnapshotter
from dockyard.snapshots.overlay import OverlaySnapshotter
from dockyard.snapshots.snapshotter import LayerResult, Snapshotter

__all__ = [
    "LayerResult",
    "NativeSnapshotter",
    "OverlaySnapshotter",
    "Snapshotter",
    "choose_snapshotter",
    "overlay_supported",
]


def overlay_supported(root: str) -> bool:
    """Try a real overlay mount (with a whiteout) in a scratch dir under `root`.

    Probing on the same filesystem matters: overlay refuses some upper
    filesystems (overlay itself on older kernels, some FUSE ones).
    """
    os.makedirs(root, exist_ok=True)
    probe = os.path.join(root, f".probe-{secrets.token_hex(6)}")
    try:
        lower, upper, work, merged = (os.path.join(probe, n) for n in ("lower", "upper", "work", "merged"))
        for d in (lower, upper, work, merged):
            os.makedirs(d)
        open(os.path.join(lower, "f"), "w").close()
        os.mknod(os.path.join(upper, "f"), 0o020600, os.makedev(0, 0))
        options = (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}")
        mount_all([Mount("overlay", "overlay", options)], merged)
        try:
            return not os.path.exists(os.path.join(merged, "f"))
        finally:
            unmount(merged, detach=True)
    except (DockyardError, OSError):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def choose_snapshotter(root: str, prefer: str | None = None) -> Snapshotter:
    """OverlaySnapshotter when overlayfs works under `root`, else NativeSnapshotter.

    `prefer` ("overlay2"/"overlay" or "vfs"/"native") forces a choice.
    """
    if prefer in ("vfs", "native"):
        return NativeSnapshotter(root)
    if prefer in ("overlay2", "overlay") or overlay_supported(root):
        return OverlaySnapshotter(root)
    return NativeSnapshotter(root)
