"""Resolving a path inside a container root so it can never leave it.

A container's filesystem is hostile input: ``/etc -> /`` or ``a -> ../../..``
must resolve to places under the root, the way the kernel would resolve them
after chroot.  `secure_join` walks the path one component at a time and
restarts symlink targets from the root; it is what every write into a rootfs
(mount points, workdir, copies) goes through.
"""

from __future__ import annotations

import os
import stat

_MAX_SYMLINKS = 40


def secure_join(root: str, unsafe: str) -> str:
    """Return root/unsafe with every symlink resolved as if root were '/'."""
    root = os.path.abspath(root)
    pending = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_SYMLINKS:
                raise OSError(40, "too many levels of symbolic links", unsafe)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)
