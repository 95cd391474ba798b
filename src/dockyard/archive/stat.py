"""Stat a path inside a container, the way docker's archive API reports it.

``HEAD /containers/{id}/archive?path=…`` (and ``GET``) answer with the
header ``X-Docker-Container-Path-Stat``: base64 (standard alphabet) of

    {"name": "passwd", "size": 1234, "mode": 420,
     "mtime": "2024-05-01T10:00:00.123456789Z", "linkTarget": ""}

where `mode` is Go's `os.FileMode`: the permission bits plus one high bit
per file type (directory 1<<31, symlink 1<<27, …), which is what the docker
CLI decodes.

Paths are resolved like moby's `container.ResolvePath`: the path is made
absolute inside the container, its directory part is resolved with every
symlink followed *inside the root* (`secure_join`), and the last component
is looked at with lstat, so a symlink at the end is reported as a symlink
with its fully resolved target in `linkTarget`.  A trailing ``/`` or ``/.``
is kept: ``/link/`` resolves through the link, ``/dir/.`` means "the
directory's contents" to `copy_out`.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import posixpath
import stat as st_
from dataclasses import dataclass
from datetime import datetime, timezone

from dockyard.errors import InvalidArgument, NotFound
from dockyard.runtime.paths_in_root import secure_join

# Go's os.FileMode type bits (io/fs): what docker puts in "mode".
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20

STAT_HEADER = "X-Docker-Container-Path-Stat"


@dataclass(frozen=True, slots=True)
class PathStat:
    name: str
    size: int
    mode: int  # Go os.FileMode bits
    mtime: str  # RFC 3339 with nanoseconds, UTC
    link_target: str = ""  # for a symlink: its target resolved inside the container, absolute

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & MODE_DIR)

    def to_api(self) -> dict:
        return {"name": self.name, "size": self.size, "mode": self.mode, "mtime": self.mtime, "linkTarget": self.link_target}


def encode_header(path_stat: PathStat) -> str:
    """The value of the X-Docker-Container-Path-Stat header."""
    return base64.b64encode(json.dumps(path_stat.to_api(), separators=(",", ":")).encode()).decode("ascii")


def go_file_mode(mode: int) -> int:
    """st_mode → Go's os.FileMode, as os.Lstat computes it on Linux."""
    out = mode & 0o777
    if st_.S_ISDIR(mode):
        out |= MODE_DIR
    elif st_.S_ISLNK(mode):
        out |= MODE_SYMLINK
    elif st_.S_ISCHR(mode):
        out |= MODE_DEVICE | MODE_CHAR_DEVICE
    elif st_.S_ISBLK(mode):
        out |= MODE_DEVICE
    elif st_.S_ISFIFO(mode):
        out |= MODE_NAMED_PIPE
    elif st_.S_ISSOCK(mode):
        out |= MODE_SOCKET
    if mode & st_.S_ISUID:
        out |= MODE_SETUID
    if mode & st_.S_ISGID:
        out |= MODE_SETGID
    if mode & st_.S_ISVTX:
        out |= MODE_STICKY
    return out


def rfc3339_nano(st: os.stat_result) -> str:
    """Go's time.Time JSON form (RFC 3339, nanoseconds without trailing zeros), in UTC."""
    seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


def container_abs(path: str) -> str:
    """`path` made absolute and clean inside the container, keeping a trailing ``/`` or ``/.``.

    moby's `PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)`.
    """
    cleaned = posixpath.normpath("/" + path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if _is_current_dir(path) and not _is_current_dir(cleaned):
        return cleaned + ("." if cleaned.endswith("/") else "/.")
    if path.endswith("/") and not cleaned.endswith("/"):
        return cleaned + "/"
    return cleaned


def _is_current_dir(path: str) -> bool:
    stripped = path.rstrip("/")
    return stripped == "." or stripped.endswith("/.")


def not_found(path: str, container: str = "") -> NotFound:
    """docker's message for a path that is not there."""
    where = f" in container {container}" if container else ""
    return NotFound(f"Could not find the file {path}{where}")


def resolve(root: str, path: str, container: str = "") -> tuple[str, str]:
    """(host path, container absolute path) of `path`, the last component not followed.

    The host path keeps a trailing ``/`` or ``/.`` so that a final symlink is
    followed exactly when docker would follow it.
    """
    abs_path = container_abs(path)
    directory, base = abs_path.rsplit("/", 1)
    try:
        host_dir = secure_join(root, directory or "/")
    except OSError as exc:
        raise _os_error(exc, path, container) from None
    return host_dir.rstrip("/") + "/" + base, abs_path


def lstat_in(root: str, path: str, container: str = "") -> tuple[str, str, os.stat_result]:
    """`resolve` plus lstat: (host path, container absolute path, stat)."""
    host, abs_path = resolve(root, path, container)
    try:
        return host, abs_path, os.lstat(host)
    except OSError as exc:
        raise _os_error(exc, path, container) from None


def path_stat(root: str, path: str, follow_link: bool = False, container: str = "") -> PathStat:
    """Describe `path` inside the container whose filesystem is mounted at `root`.

    With `follow_link`, a final symlink is followed (inside the root) and its
    target described, under the name asked for; docker's own API never
    follows (the CLI does, with ``cp -L``, by asking again for linkTarget).
    """
    host, abs_path, st = lstat_in(root, path, container)
    link_target = ""
    if st_.S_ISLNK(st.st_mode):
        try:
            resolved = secure_join(root, abs_path)
        except OSError as exc:
            raise _os_error(exc, path, container) from None
        link_target = "/" + os.path.relpath(resolved, os.path.abspath(root))
        link_target = posixpath.normpath(link_target)
        if follow_link:
            try:
                st = os.lstat(resolved)
            except OSError as exc:
                raise _os_error(exc, path, container) from None
            link_target = ""
    return PathStat(
        name=go_base(abs_path),
        size=st.st_size,
        mode=go_file_mode(st.st_mode),
        mtime=rfc3339_nano(st),
        link_target=link_target,
    )


def go_base(path: str) -> str:
    """Go's filepath.Base: the last element, trailing slashes ignored; "/" for the root."""
    stripped = path.rstrip("/")
    return posixpath.basename(stripped) if stripped else "/"


def _os_error(exc: OSError, path: str, container: str) -> Exception:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return not_found(path, container)
    if exc.errno == errno.ELOOP:
        return InvalidArgument(f"{path}: too many levels of symbolic links")
    return exc
