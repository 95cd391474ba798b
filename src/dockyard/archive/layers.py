"""Reading a stack of overlay-format layer directories as one tree, without mounting.

The rules are overlayfs's (and `snapshots.lookup`'s): in a directory, the
topmost layer holding a name decides what it is; a 0:0 character device is a
whiteout (the name is deleted); a non-directory hides everything of that
name below it; a directory with ``trusted.overlay.opaque=y`` hides the
layers below it.  A merged directory is therefore the list of its layer
directories, topmost first, cut after the first opaque one — which is what
`merged_child` hands down while walking.

Not handled: overlay's ``redirect_dir`` and ``metacopy`` features (off in
dockyard's mounts and in the kernel defaults).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class MergedEntry:
    host: str  # the topmost layer's copy: what the merged tree shows
    st: os.stat_result
    dirs: tuple[str, ...]  # for a directory: its layer directories, topmost first, cut after an opaque one


def merged_child(dirs: tuple[str, ...] | list[str], name: str) -> MergedEntry | None:
    """`name` inside the merged directory made of `dirs`; None if absent or deleted."""
    top: tuple[str, os.stat_result] | None = None
    child_dirs: list[str] = []
    for directory in dirs:
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if top is None:
            if is_whiteout(st):
                return None
            top = (path, st)
        if not stat.S_ISDIR(st.st_mode):
            break  # hides whatever lies below, or is hidden by the directory above
        child_dirs.append(path)
        if is_opaque(path):
            break
    if top is None:
        return None
    return MergedEntry(top[0], top[1], tuple(child_dirs) if stat.S_ISDIR(top[1].st_mode) else ())


def merged_names(dirs: tuple[str, ...] | list[str]) -> list[str]:
    """The names visible in the merged directory made of `dirs`, sorted."""
    names: set[str] = set()
    for directory in dirs:
        try:
            names.update(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return sorted(n for n in names if merged_child(dirs, n) is not None)
