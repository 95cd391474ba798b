"""Files in and out of container filesystems, as tar streams.

The pure file logic behind ``docker cp`` (`stat`, `copy_out`, `copy_in`),
``docker diff`` and ``docker commit`` (`changes`) and ``docker export``
(`export`).  Everything here works on directories it is given, a mounted
container root or a snapshot's upper and lower directories, and never
mounts anything itself; the container service decides what to mount (and
freezes a running container while copying, see `copy_in`).

Every tar produced here is written by `tarstream.TarWriter`, so entries look
the same everywhere: PAX format, numeric owners with empty user and group
names, mtimes truncated to the second, hard links to the first name seen,
``security.capability`` carried as a PAX xattr, sockets left out — what
moby's archive package writes.
"""
