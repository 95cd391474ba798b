"""Reading a file from a stack of layer directories without mounting them.

The rules are overlayfs's: the topmost layer that has an entry wins; a 0:0
character device is a whiteout (the entry is deleted); a directory with the
xattr trusted.overlay.opaque=y hides everything below it in lower layers; a
non-directory in an upper layer hides a lower directory of the same name.
Symlinks are resolved against the image's root, never the host's.
"""

from __future__ import annotations

import os
import stat

from dockyard.errors import InvalidArgument, NotFound
from dockyard.snapshots.apply import OVERLAY_OPAQUE_XATTR

_MAX_LINKS = 40


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _entry(layers: list[str], parts: list[str]) -> tuple[str, os.stat_result] | None:
    """The host path and stat of the merged entry `parts`, or None."""
    for layer in layers:
        hidden_below = False
        path = layer
        for i, part in enumerate(parts):
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                break
            if is_whiteout(st):
                return None
            if i == len(parts) - 1:
                return path, st
            if not stat.S_ISDIR(st.st_mode):
                return None
            if _is_opaque(path):
                hidden_below = True
        if hidden_below:
            return None
    return None


def resolve(layers: list[str], path: str) -> tuple[str, os.stat_result]:
    """Find `path` (absolute, inside the image) in the merged layers."""
    pending = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    if not layers:
        raise NotFound(f"{path}: no such file or directory")
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        found = _entry(layers, resolved + [part])
        if found is None:
            raise NotFound(f"{path}: no such file or directory")
        host, st = found
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise InvalidArgument(f"{path}: too many levels of symbolic links")
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p and p != "."] + pending
            continue
        resolved.append(part)
    if not resolved:
        return layers[0], os.lstat(layers[0])
    found = _entry(layers, resolved)
    assert found is not None
    return found


def read_file(layers: list[str], path: str, limit: int = 16 << 20) -> bytes:
    host, st = resolve(layers, path)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgument(f"{path}: not a regular file")
    with open(host, "rb") as f:
        return f.read(limit)
