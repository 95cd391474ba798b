"""The cache key of what a COPY or ADD reads, in docker's classic form.

A build step is reused when its instruction and its sources are unchanged;
:func:`sources_digest` condenses the sources into a sha256 that changes
exactly when the copied result would, and names it the way docker does:

    file:<sha256>    one file, heredoc or download
    dir:<sha256>     one directory (its contents: the directory itself is
                     not copied, so neither its name nor its mode count)
    multi:<sha256>   several sources: sha256 of their keys joined by ","

which is also what moby's classic builder writes into the image history
(``COPY file:8d4b… in /app/``).

Each hash covers, for every entry, its name (relative to the directory
source; the base name for a file, since it names the copy), its type, its
permission bits, its size, a symlink's target, a device's numbers and the
sha256 of a regular file's bytes, streamed in chunks.  Owners count only
for a ``--from`` source, whose ownership is copied; context files are
always written as 0:0.  Modification times never count: touching a file
must not invalidate the cache, editing it must.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Iterable, NamedTuple

from dockyard.build.copy_sources import INLINE_MODE, Exclude, Origin, Source, walk_source

_CHUNK = 1 << 20


class SourcesDigest(NamedTuple):
    """``digest`` is the sha256 hex; ``description`` docker's ``kind:hex``."""

    digest: str
    description: str


def sources_digest(sources: Iterable[Source], exclude: Exclude | None = None) -> SourcesDigest:
    """The sha256 over ``sources`` in order, and its ``file:``/``dir:``/``multi:`` form.

    ``exclude`` is the same predicate given to ``copy_into`` (entries it
    leaves out of a directory do not count).
    """
    keys = [_source_key(source, exclude) for source in sources]
    if not keys:
        raise ValueError("no sources to digest")
    if len(keys) == 1:
        description = keys[0]
    else:
        description = "multi:" + hashlib.sha256(",".join(keys).encode()).hexdigest()
    return SourcesDigest(description.partition(":")[2], description)


def _source_key(source: Source, exclude: Exclude | None) -> str:
    hasher = hashlib.sha256()
    if source.data is not None:
        _update(hasher, (source.base, "f", INLINE_MODE, len(source.data),
                         hashlib.sha256(source.data).hexdigest()))
        return "file:" + hasher.hexdigest()
    owners = source.origin is Origin.STAGE
    st = os.stat(source.path)
    if stat.S_ISDIR(st.st_mode):
        for rel, host, entry_st in walk_source(source.path, exclude):
            if stat.S_ISSOCK(entry_st.st_mode):
                continue  # never copied
            _update(hasher, _describe(rel, host, entry_st, owners))
        return "dir:" + hasher.hexdigest()
    _update(hasher, _describe(source.base, source.path, st, owners))
    return "file:" + hasher.hexdigest()


def _describe(name: str, host: str, st: os.stat_result, owners: bool) -> tuple:
    mode = st.st_mode
    fields: tuple = (name, _kind(mode), stat.S_IMODE(mode))
    if owners:
        fields += (st.st_uid, st.st_gid)
    if stat.S_ISREG(mode):
        fields += (st.st_size, _file_sha256(host))
    elif stat.S_ISLNK(mode):
        fields += (os.readlink(host),)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        fields += (os.major(st.st_rdev), os.minor(st.st_rdev))
    return fields


def _kind(mode: int) -> str:
    for test, letter in ((stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"),
                         (stat.S_ISCHR, "c"), (stat.S_ISBLK, "b"), (stat.S_ISFIFO, "p")):
        if test(mode):
            return letter
    return "s"


def _file_sha256(path: str) -> str:
    hasher = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _update(hasher: "hashlib._Hash", fields: tuple) -> None:
    # repr quotes every string, so no name can be mistaken for a separator
    hasher.update(repr(fields).encode("utf-8", "surrogateescape") + b"\n")
