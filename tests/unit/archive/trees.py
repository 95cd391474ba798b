"""Helpers for the archive tests: reading tar streams back, describing trees."""

from __future__ import annotations

import io
import os
import stat
import tarfile


def read_tar(chunks) -> list[tarfile.TarInfo]:
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return tar.getmembers()


def names(chunks) -> list[str]:
    """Member names, directories with their trailing '/' (tarfile strips it when reading)."""
    return [m.name + "/" if m.isdir() else m.name for m in read_tar(chunks)]


def tar_bytes(*entries) -> bytes:
    """entries: ("file", name, data) | ("dir", name) | ("symlink", name, target) | ("hardlink", name, target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, *rest in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            data = None
            if kind == "file":
                data = rest[0]
                info.size, info.mode = len(data), (rest[1] if len(rest) > 1 else 0o644)
                info.uid, info.gid = 1000, 1000
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, rest[0]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, rest[0]
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def snapshot(root) -> dict[str, tuple]:
    """path → (type, mode, uid, gid, content or link target) for every entry below root."""
    out: dict[str, tuple] = {}
    root = str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                payload = ("l", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    payload = ("f", f.read())
            elif stat.S_ISDIR(st.st_mode):
                payload = ("d", None)
            else:
                payload = ("o", st.st_rdev)
            out[rel] = (*payload, stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) else 0, st.st_uid, st.st_gid)
    return out


def tar_snapshot(chunks) -> dict[str, tuple]:
    """The same description, read from a tar stream (hard links resolved to their content)."""
    data = b"".join(chunks)
    out: dict[str, tuple] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar.getmembers():
            rel = m.name.rstrip("/")
            if m.issym():
                payload = ("l", m.linkname)
            elif m.isreg():
                payload = ("f", tar.extractfile(m).read())
            elif m.islnk():
                payload = ("f", tar.extractfile(m).read())
            elif m.isdir():
                payload = ("d", None)
            else:
                payload = ("o", os.makedev(m.devmajor, m.devminor))
            out[rel] = (*payload, m.mode if not m.issym() else 0, m.uid, m.gid)
    return out
