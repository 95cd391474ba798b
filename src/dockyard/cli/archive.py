"""The local half of ``cp``: docker's copy rules over tar streams.

The Engine API only moves tar archives (``GET``/``PUT
/containers/{id}/archive``); what ``cp`` means is decided here, from the
source and destination (docker's go-archive ``copy.go``):

* the archive of ``SRC`` holds one top entry named ``basename(SRC)``
  (``.`` for ``SRC/.``, whose entries are ``.`` and ``./…``);
* destination exists and is a directory → extract into it (so ``dir``
  becomes ``DEST/dir`` and ``dir/.`` spills its contents into ``DEST``);
* destination exists, is a file, source is a directory → "cannot copy
  directory";
* otherwise extract into ``dirname(DEST)``, renaming the top entry to
  ``basename(DEST)`` (the first occurrence in each entry name, as docker);
  a destination ending in ``/`` that does not exist → "no such directory".

``-L`` resolves a symlink source and keeps the name the user wrote
(``rebase_name``).  Extraction never chowns, and refuses to replace a
directory by a non-directory or the reverse.
"""

from __future__ import annotations

import os
import tarfile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Iterator


class CopyError(Exception):
    """A copy that the rules forbid; ``str()`` is docker's message."""


class CopyInfo:
    __slots__ = ("path", "exists", "is_dir", "rebase_name")

    def __init__(self, path: str, exists: bool = False, is_dir: bool = False,
                 rebase_name: str = ""):
        self.path, self.exists, self.is_dir, self.rebase_name = path, exists, is_dir, rebase_name

    def __repr__(self) -> str:
        return (f"CopyInfo({self.path!r}, exists={self.exists}, is_dir={self.is_dir}, "
                f"rebase_name={self.rebase_name!r})")


def split_cp_arg(arg: str) -> tuple[str, str]:
    """``container:path`` → ("container", "path"); a local path → ("", path).
    A local path holding ":" must start with "/" or "." (``./a:b``)."""
    if arg.startswith("/"):
        return "", arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return "", arg
    return container, path


def specifies_current_dir(path: str) -> bool:
    return os.path.basename(path) == "."


def asserts_directory(path: str) -> bool:
    return path.endswith("/") or specifies_current_dir(path)


def preserve_trailing(cleaned: str, original: str) -> str:
    """Keep the trailing ``/.`` or ``/`` that cleaning the path dropped."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not cleaned.endswith("/"):
            cleaned += "/"
        cleaned += "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def resolve_local(path: str) -> str:
    """An absolute path, keeping what the trailing ``/`` or ``/.`` asserts."""
    return preserve_trailing(os.path.abspath(path), path)


def split_dir_entry(path: str) -> tuple[str, str]:
    cleaned = os.path.normpath(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return os.path.dirname(cleaned) or ".", os.path.basename(cleaned)


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """docker's GetRebaseName: (resolved path, the name to show it under)."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    rebase = os.path.basename(path) if os.path.basename(path) != os.path.basename(resolved) \
        else ""
    return resolved, rebase


def source_info(path: str, follow_link: bool) -> CopyInfo:
    """Stat a local source (docker's CopyInfoSourcePath)."""
    if follow_link:
        resolved, rebase = rebase_name(path, os.path.realpath(path))
        if not os.path.lexists(resolved.rstrip("/") or "/"):
            raise FileNotFoundError(2, "no such file or directory", path)
    else:
        parent, base = os.path.split(path)
        resolved = os.path.realpath(parent or ".").rstrip("/") + "/" + base
        rebase = ""
        wrote = os.path.basename(path.rstrip("/"))
        if path.endswith("/") and wrote != os.path.basename(resolved.rstrip("/")):
            rebase = wrote
    import stat

    st = os.lstat(resolved)
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


def destination_info(path: str) -> CopyInfo:
    """Stat a local destination, following symlinks (CopyInfoDestinationPath)."""
    original = path
    for _ in range(11):
        if not os.path.islink(path.rstrip("/") or "/"):
            break
        target = os.readlink(path.rstrip("/"))
        if not os.path.isabs(target):
            target = os.path.join(split_dir_entry(path)[0], target)
        path = target
    else:
        raise CopyError(f"too many symlinks in {original}")
    if os.path.lexists(path.rstrip("/") or "/"):
        return CopyInfo(path, True, os.path.isdir(path))
    parent = split_dir_entry(path)[0]
    if not os.path.exists(parent):
        raise FileNotFoundError(2, "no such file or directory", parent)
    if not os.path.isdir(parent):
        raise CopyError("not a directory")
    return CopyInfo(path)


def prepare_copy(src: CopyInfo, dst: CopyInfo) -> tuple[str, tuple[str, str] | None]:
    """Where to extract, and the (old, new) rename of entry names, if any."""
    dst_dir, dst_base = split_dir_entry(dst.path)
    src_base = src.rebase_name or split_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise CopyError("cannot copy directory")
    if not dst.exists and not src.is_dir and asserts_directory(dst.path):
        raise CopyError("no such directory")
    return dst_dir, (src_base, dst_base)


def rebase(name: str, change: tuple[str, str] | None) -> str:
    if change is None:
        return name
    old, new = change
    return name.replace("" if old == "/" else old, new, 1)


def _entries(src: CopyInfo) -> Iterator[tuple[str, str]]:
    """(file system path, archive name) of a source, parents first, as
    docker's TarResourceRebase names them."""
    parent, base = split_dir_entry(src.path)
    root = os.path.join(parent, base) if base != "." else parent

    def named(rel: str) -> str:
        name = rel if base != "." else ("." if rel == "." else f"./{rel}")
        return rebase(name, (base, src.rebase_name) if src.rebase_name else None)

    top = base
    yield root, named(top if base != "." else ".")
    if os.path.isdir(root) and not os.path.islink(root):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            for name in sorted(dirnames + filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                yield os.path.join(dirpath, name), named(rel if base == "." else f"{top}/{rel}")


def write_tar(src: CopyInfo, out: BinaryIO, change: tuple[str, str] | None = None) -> None:
    """Write the archive of ``src`` (names rebased by ``change``) to ``out``."""
    tar = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)
    for path, name in _entries(src):
        info = tar.gettarinfo(path, arcname=rebase(name, change))
        info.mtime = int(info.mtime)  # a float would cost a PAX header per entry
        info.uname = info.gname = ""
        if info.isreg():
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
        else:
            tar.addfile(info)
    # End of archive without tarfile's padding to a 10 KiB record (Go's
    # writer, hence docker's byte counts, have none).
    out.write(b"\0" * (2 * tarfile.BLOCKSIZE))
    tar.closed = True


def extract(stream: Any, dst_dir: str, *changes: tuple[str, str] | None) -> None:
    """Unpack a tar stream into ``dst_dir``, renaming entries by each of
    ``changes`` in turn."""
    root = os.path.realpath(dst_dir)
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name, linkname = member.name, member.linkname
            for change in changes:
                name, linkname = rebase(name, change), rebase(linkname, change)
            name = name.lstrip("/")
            target = os.path.normpath(os.path.join(root, name))
            if target != root and not target.startswith(root + "/"):
                raise CopyError(f"invalid path in archive: {member.name}")
            if os.path.lexists(target):
                is_dir = os.path.isdir(target) and not os.path.islink(target)
                if is_dir and not member.isdir():
                    raise CopyError(f'cannot overwrite directory "{target}" with '
                                    f'non-directory "{root}"')
                if not is_dir and member.isdir():
                    raise CopyError(f'cannot overwrite non-directory "{target}" with '
                                    f'directory "{root}"')
                if not is_dir:
                    os.unlink(target)
            link = os.path.join(root, linkname.lstrip("/"))
            _extract_one(tar, member, target, link)


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str, link: str) -> None:
    os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
    if member.isdir():
        os.makedirs(target, exist_ok=True)
    elif member.issym():
        os.symlink(member.linkname, target)
        return
    elif member.islnk():
        os.link(link, target)
        return
    elif member.isreg():
        source = tar.extractfile(member)
        with open(target, "wb") as fh:
            while block := source.read(1 << 16):  # type: ignore[union-attr]
                fh.write(block)
    else:
        return  # devices and fifos: not ours to create without privileges
    os.chmod(target, member.mode & 0o7777)
    os.utime(target, (member.mtime, member.mtime))
