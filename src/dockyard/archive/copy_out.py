"""A tar of one path inside a container: ``GET /containers/{id}/archive?path=``.

The entries are named the way moby names them (`containerArchivePath` with
`TarResourceRebaseOpts`): the top entry carries the base name of the path
asked for, whatever a symlink resolved it to, and everything below is under
it::

    path=/etc            etc/, etc/passwd, …
    path=/etc/           etc/, etc/passwd, …
    path=/etc/.          ./, ./passwd, …       (the directory's contents)
    path=/etc/passwd     passwd
    path=/lnk  (→ /etc)  lnk                    (the symlink itself)
    path=/lnk/           lnk/, lnk/passwd, …    (followed, inside the root)
    path=/               /, /bin/, /bin/sh, …

Walking never follows a symlink: links below the path are stored as links,
so nothing outside the root is ever read.  Sockets are skipped.  Files that
disappear while a running container is being copied are left out.
"""

from __future__ import annotations

import os
import stat
from typing import Iterator

from dockyard.archive.stat import go_base, lstat_in
from dockyard.archive.tarstream import TarWriter


def tar_from(root: str, path: str, container: str = "") -> Iterator[bytes]:
    """The tar stream of `path` inside `root`, in pieces.

    Resolution happens now, so a missing path raises `NotFound` (with
    docker's message, naming `container`) before the first byte; the
    returned iterator then reads files as it goes.
    """
    host, abs_path, st = lstat_in(root, path, container)
    rebase = go_base(abs_path)
    if stat.S_ISDIR(st.st_mode):
        # moby renames the walk's "." to the base name; for "/" to "", so
        # the top entry is "/" and the others "/bin", "/bin/sh", ….
        top = "" if rebase == "/" else rebase
        return _stream_tree(host, top, top + "/")
    return _stream_one(host, rebase, st)


def tar_tree(root: str) -> Iterator[bytes]:
    """Every file below `root` (a mounted or merged tree), named relative to it: ``bin/``, ``bin/sh``.

    The root itself is not an entry, as in docker export and layer tars.
    """
    writer = TarWriter()

    def stream() -> Iterator[bytes]:
        for host, name, st in _walk(root, ""):
            yield from writer.add(host, name, st)
        yield writer.end()

    return stream()


def _stream_one(host: str, name: str, st: os.stat_result) -> Iterator[bytes]:
    writer = TarWriter()
    yield from writer.add(host, name, st)
    yield writer.end()


def _stream_tree(host: str, top_name: str, prefix: str) -> Iterator[bytes]:
    writer = TarWriter()
    top = host.rstrip("/") or "/"
    yield from writer.add(top, top_name)
    for child_host, name, child_st in _walk(top, prefix):
        yield from writer.add(child_host, name, child_st)
    yield writer.end()


def _walk(directory: str, prefix: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """(host path, prefix + relative name, lstat) below `directory`, depth first in name order.

    Symlinks are never followed, so the walk cannot leave `directory`.
    """
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        name = prefix + entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        yield entry.path, name, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(entry.path, name + "/")
