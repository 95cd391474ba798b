"""The role every volume driver plays: `VolumeDriver`."""

from __future__ import annotations

from typing import Mapping, Protocol


class VolumeDriver(Protocol):
    """Keeps named volumes and makes their content reachable at a host path.

    Vocabulary
    ----------
    *name*
        The volume's name, unique within the driver.  The driver decides
        which names it accepts (`validate`); the local driver takes docker's
        ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``.
    *options*
        The driver-specific string map given at create (``docker volume
        create -o key=value``, the API's ``DriverOpts``).  The driver
        validates them at create, keeps them with the volume, and reports
        them back (`options`) for the API's ``Options`` field.
    *mount path*
        The host directory a container bind-mounts.  `path` names it without
        side effects (the API's ``Mountpoint``); only `mount` promises that
        the content is actually there.
    *ref*
        Whoever asked for a mount, normally a container id.  A driver counts
        mounts per volume: the first `mount` may do real work (mount a tmpfs,
        an NFS export, a bind of a host directory), and the `unmount` that
        releases the last ref undoes it.  The same ref may mount twice (one
        container, two destinations) and must unmount twice.  Counts live in
        memory: after a daemon restart they start at zero, and a driver finds
        a device still mounted from before and adopts it rather than mounting
        it a second time.

    The life of a volume
    --------------------
    ``validate(name, opts)`` → ``create(name, opts)`` (atomic: a crash leaves
    the volume whole or absent; creating an existing name returns it) →
    for each container that uses it: ``mount(name, cid)`` … container runs …
    ``unmount(name, cid)`` → ``remove(name)`` (refused while mounted).

    What a driver does not know: which containers *reference* a volume
    (stopped containers reference volumes they do not mount), labels, the
    anonymous flag, creation time.  Those are records the volume service
    keeps; the driver keeps the bytes.

    Errors are dockyard's kinds: an unknown name is NotFound, a bad name or
    option InvalidArgument, removing a mounted volume Conflict, a failed
    mount(2) SystemError.  Methods may be called from several threads.
    """

    name: str
    """The driver's name as the API shows it ("local")."""

    def validate(self, name: str, options: Mapping[str, str]) -> None:
        """Raise InvalidArgument unless `create(name, options)` could succeed."""

    def create(self, name: str, options: Mapping[str, str]) -> str:
        """Create the volume (or find it already there); return its mount path."""

    def remove(self, name: str) -> None:
        """Delete the volume and its content.  NotFound, or Conflict while mounted."""

    def path(self, name: str) -> str:
        """The mount path of an existing volume (NotFound otherwise); no side effects."""

    def options(self, name: str) -> dict[str, str]:
        """The options the volume was created with."""

    def list(self) -> list[str]:
        """Names of every volume the driver holds, sorted."""

    def mount(self, name: str, ref: str) -> str:
        """Make the content available for `ref`; return the mount path."""

    def unmount(self, name: str, ref: str) -> None:
        """Release one mount of `ref`; the last release undoes the first mount."""

    def usage(self, name: str) -> int:
        """Bytes used by the content, or -1 when the driver cannot tell."""
