"""Building small layer tars in tests."""

from __future__ import annotations

import io
import tarfile


def layer(*entries, gzip: bool = False) -> bytes:
    """entries: ("file", name, data[, mode]) | ("dir", name) | ("symlink", name, target)
    | ("hardlink", name, target) | ("whiteout", dir, name) | ("opaque", dir) | ("char", name, major, minor)
    | ("xattr-file", name, data, {key: value})."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gzip else "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            kind, name = entry[0], entry[1]
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            data = None
            if kind == "file":
                data = entry[2]
                info.size = len(data)
                info.mode = entry[3] if len(entry) > 3 else 0o644
            elif kind == "xattr-file":
                data = entry[2]
                info.size = len(data)
                info.mode = 0o644
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry[3].items()}
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry[2]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, entry[2]
            elif kind == "whiteout":
                info.name = f"{name}/.wh.{entry[2]}" if name else f".wh.{entry[2]}"
            elif kind == "opaque":
                info.name = f"{name}/.wh..wh..opq"
            elif kind == "char":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, entry[2], entry[3]
            else:
                raise ValueError(kind)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()
