"""A container's changes, read from its overlay upper directory: ``docker diff`` and ``docker commit``.

Overlayfs already keeps the diff: everything the container wrote is in the
upper directory (the active snapshot's ``fs``), deletions as 0:0 character
devices, "deleted then recreated" directories marked opaque.  What is new
against the image is decided by looking the path up in the lower layers
(`layers.merged_child`, so a path an image layer deleted counts as absent).

`changes` reports, like docker (kinds 0 modified, 1 added, 2 deleted):

- a whiteout → D; a non-directory → C if the lower layers had the path,
  else A; a new directory → A;
- an opaque directory → C (A if new), plus D for each name the lower layers
  showed in it that the container did not recreate;
- a directory the lower layers had → C when its mode or owner changed or
  something below it changed; docker's rule of thumb "``A /etc/x`` comes
  with ``C /etc``" falls out of the second half.  (Its mtime is not
  compared: creating and removing a mount placeholder changes it.)

The runtime creates mount targets the image lacks (``/etc/hosts``,
``/proc``, …) in the upper directory; docker keeps those in a hidden init
layer instead, so they never show in ``docker diff`` or in a committed
layer.  Paths listed in `mount_points` are therefore skipped when they are
*placeholders*: absent from the lower layers and an empty regular file or
an empty directory; so are directories made only to hold them.

`layer_tar_from_upper` writes the same upper directory as an OCI layer:
every entry of the upper directory (placeholders excepted), whiteouts as
``.wh.<name>`` empty files, an opaque directory followed by
``<dir>/.wh..wh..opq`` — moby's overlay2 `Diff`.
"""

from __future__ import annotations

import contextlib
import enum
import os
import posixpath
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Collection, Iterator

from dockyard.archive.layers import MergedEntry, is_opaque, is_whiteout, merged_child, merged_names
from dockyard.archive.tarstream import TarWriter

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

# Where dockyard's runtime may create empty files or directories to mount on.
RUNTIME_MOUNT_POINTS = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys", "/dev")


class ChangeKind(enum.IntEnum):
    MODIFIED = 0
    ADDED = 1
    DELETED = 2

    @property
    def letter(self) -> str:
        return "CAD"[self.value]


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # absolute inside the container
    kind: ChangeKind

    def to_api(self) -> dict:
        return {"Path": self.path, "Kind": int(self.kind)}


@dataclass(frozen=True, slots=True)
class _UpperEntry:
    rel: str  # relative to the upper directory, no leading '/'
    host: str
    st: os.stat_result
    lower: MergedEntry | None  # the same path in the lower layers, if it was visible there

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_whiteout(self) -> bool:
        return is_whiteout(self.st)

    @property
    def is_opaque(self) -> bool:
        return self.is_dir and is_opaque(self.host)


def changes(upper_dir: str, lower_dirs: list[str], mount_points: Collection[str] = RUNTIME_MOUNT_POINTS) -> list[Change]:
    """What the container changed against its image, sorted by path."""
    found: dict[str, ChangeKind] = {}
    for entry in _walk_upper(upper_dir, lower_dirs, mount_points):
        path = "/" + entry.rel
        if entry.is_whiteout:
            found[path] = ChangeKind.DELETED
        elif not entry.is_dir:
            found[path] = ChangeKind.MODIFIED if entry.lower is not None else ChangeKind.ADDED
        elif entry.lower is None:
            found[path] = ChangeKind.ADDED
        elif entry.is_opaque:
            found[path] = ChangeKind.MODIFIED
            recreated = set(os.listdir(entry.host))
            for name in merged_names(entry.lower.dirs):
                if name not in recreated:
                    found[posixpath.join(path, name)] = ChangeKind.DELETED
        elif _owner_or_mode_changed(entry.st, entry.lower.st):
            found[path] = ChangeKind.MODIFIED
    # A change below a directory the image had makes that directory changed.
    for path in list(found):
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in found:
            found[parent] = ChangeKind.MODIFIED
            parent = posixpath.dirname(parent)
    return [Change(path, kind) for path, kind in sorted(found.items())]


def layer_tar_from_upper(upper_dir: str, lower_dirs: list[str], mount_points: Collection[str] = RUNTIME_MOUNT_POINTS) -> Iterator[bytes]:
    """The upper directory as an OCI layer tar (uncompressed), in pieces."""
    entries = _walk_upper(upper_dir, lower_dirs, mount_points)
    writer = TarWriter()
    for entry in entries:
        if entry.is_whiteout:
            parent, name = posixpath.split(entry.rel)
            info = tarfile.TarInfo(posixpath.join(parent, WHITEOUT_PREFIX + name))
            info.mode = 0o600
            info.uid, info.gid = entry.st.st_uid, entry.st.st_gid
            info.mtime = int(entry.st.st_mtime)
            yield writer.header_bytes(info)
            continue
        yield from writer.add(entry.host, entry.rel, entry.st)
        if entry.is_opaque:
            marker = tarfile.TarInfo(posixpath.join(entry.rel, WHITEOUT_OPAQUE))
            marker.mode = stat.S_IMODE(entry.st.st_mode) & 0o777
            marker.uid, marker.gid = entry.st.st_uid, entry.st.st_gid
            marker.mtime = 0
            yield writer.header_bytes(marker)
    yield writer.end()


@contextlib.contextmanager
def spooled_layer(upper_dir: str, lower_dirs: list[str], mount_points: Collection[str], tmp_dir: str) -> Iterator[BinaryIO]:
    """:func:`layer_tar_from_upper` written to a temporary file (rewound), for
    a commit that must read the layer twice (hash, then unpack)."""
    with tempfile.TemporaryFile(dir=tmp_dir) as spool:
        for chunk in layer_tar_from_upper(upper_dir, lower_dirs, mount_points):
            spool.write(chunk)
        spool.seek(0)
        yield spool


def _owner_or_mode_changed(upper: os.stat_result, lower: os.stat_result) -> bool:
    return (upper.st_mode, upper.st_uid, upper.st_gid) != (lower.st_mode, lower.st_uid, lower.st_gid)


def _walk_upper(upper_dir: str, lower_dirs: list[str], mount_points: Collection[str]) -> Iterator[_UpperEntry]:
    points = {p.strip("/") for p in mount_points if p.strip("/")}
    holders = {posixpath.dirname(p) for p in points}
    holders |= {a for p in holders for a in _ancestors(p)}
    holders.discard("")
    return _walk(upper_dir, "", tuple(lower_dirs), points, holders)


def _ancestors(rel: str) -> Iterator[str]:
    while rel:
        rel = posixpath.dirname(rel)
        if rel:
            yield rel


def _walk(host_dir: str, prefix: str, lower: tuple[str, ...], points: set[str], holders: set[str]) -> Iterator[_UpperEntry]:
    """Pre-order, names sorted; mount placeholders left out."""
    for name in sorted(os.listdir(host_dir)):
        host = os.path.join(host_dir, name)
        rel = prefix + name
        st = os.lstat(host)
        below = merged_child(lower, name) if lower else None
        entry = _UpperEntry(rel, host, st, below)
        if not stat.S_ISDIR(st.st_mode):
            if below is None and rel in points and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                continue
            yield entry
            continue
        children = _walk(host, rel + "/", below.dirs if below else (), points, holders)
        if below is None and (rel in points or rel in holders):
            # Only now do we know whether it holds anything but placeholders.
            kept = list(children)
            if not kept:
                continue
            children = iter(kept)
        yield entry
        yield from children
