"""Volumes: named storage that outlives containers.

`VolumeDriver` (driver.py) is the role and its design notes; `LocalDriver`
(local.py) implements it with directories under the data root, optionally
mounting a device (tmpfs, a host directory, NFS) there.  Records (labels,
the anonymous flag, who uses what) belong to services/volumes.py.
"""

from __future__ import annotations

from dockyard.volumes.driver import VolumeDriver
from dockyard.volumes.local import LocalDriver, MountOptions, validate_name

__all__ = ["LocalDriver", "MountOptions", "VolumeDriver", "validate_name"]
