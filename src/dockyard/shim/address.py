"""Unix socket paths longer than the kernel's limit.

sun_path holds 108 bytes, and ``<data-root>/containers/<64 hex>/shim.sock``
passes that as soon as the data root is longer than about 20 characters
(pytest's temporary directories are).  Abstract sockets would dodge the
limit but have no permissions: anything in the host's network namespace,
a ``--network host`` container included, could drive the shim.  So a long
path is reached through its directory's descriptor instead:
``/proc/self/fd/<dirfd>/shim.sock`` resolves to the same file.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

_MAX = 100


@contextlib.contextmanager
def short_path(path: str) -> Iterator[str]:
    if len(path.encode()) < _MAX:
        yield path
        return
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{os.path.basename(path)}"
    finally:
        os.close(fd)
