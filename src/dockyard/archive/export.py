"""``docker export``: a container's merged filesystem as one tar, without mounting it.

The container's upper directory and its image's layer directories are read
as overlayfs would merge them (`layers.merged_child`): per name the topmost
layer wins, whiteouts delete, opaque directories hide what is below.  Names
are relative to the root (``bin/``, ``bin/sh``, ``etc/hosts``) and the root
itself is not an entry, as in docker's export.  Mount placeholders the
runtime created in the upper directory are included, as docker's init layer
makes them appear in its export.

For a tree that is already merged (a mounted rootfs) use
`copy_out.tar_tree`.
"""

from __future__ import annotations

import stat
from typing import Iterator

from dockyard.archive.layers import merged_child, merged_names
from dockyard.archive.tarstream import TarWriter


def export_rootfs(layer_dirs_top_first: list[str], upper_dir: str | None = None) -> Iterator[bytes]:
    """The merged tree of `upper_dir` (if any) over `layer_dirs_top_first`, as a tar, in pieces."""
    dirs = ([upper_dir] if upper_dir else []) + list(layer_dirs_top_first)
    writer = TarWriter()

    def walk(directory_layers: tuple[str, ...], prefix: str) -> Iterator[bytes]:
        for name in merged_names(directory_layers):
            entry = merged_child(directory_layers, name)
            if entry is None:  # deleted between listing and looking (a running container)
                continue
            yield from writer.add(entry.host, prefix + name, entry.st)
            if stat.S_ISDIR(entry.st.st_mode):
                yield from walk(entry.dirs, prefix + name + "/")

    def stream() -> Iterator[bytes]:
        yield from walk(tuple(dirs), "")
        yield writer.end()

    return stream()
